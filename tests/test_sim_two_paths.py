"""One physics, two paths: SCPI through PyVISA and direct Chip calls leave the same chip."""
import numpy as np
import pytest

from labbench.instruments import Bench
from labbench.paths import BENCHES
from labbench.physics.chip import Chip
from labbench.physics.models import RESET, SET


@pytest.fixture(scope="module")
def bench():
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        yield b


def test_same_pulse_sequence_same_state(bench):
    chip = bench.world.chip
    op = bench.config.operating
    twin = Chip(chip.model, chip.rows, chip.cols, seed=bench.config.chip.seed)
    twin.load_state_dict(chip.state_dict())
    rng = np.random.default_rng(3)
    for _ in range(60):
        r, c, s = (int(x) for x in rng.integers(0, [4, 4, 2]))
        kind = rng.choice(["set", "reset", "read"], p=[0.5, 0.2, 0.3])
        idx = twin.flat(r, c, s)
        if kind == "read":
            g_bench = bench.read_cell(r, c, s)
            i = twin.current(idx, op.read_voltage, op.compliance)[0]
            assert g_bench == pytest.approx(float(i) / op.read_voltage, rel=1e-12)
        else:
            n = int(rng.integers(1, 6))
            spec = op.set if kind == "set" else op.reset
            bench.pulse_cell(r, c, s, kind, n)
            twin.pulse(idx, n, SET if kind == "set" else RESET, amplitude=spec.amplitude,
                       width=spec.width, gate=spec.gate)
    a, b = chip.state_dict(), twin.state_dict()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert (chip.write_events > 0).sum() > 5
    assert bench.now() > 0
