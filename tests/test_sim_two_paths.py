"""One physics, two paths: SCPI through PyVISA and direct Chip calls leave the same chip."""
import math

import numpy as np
import pytest

from labbench.instruments import Bench
from labbench.paths import BENCHES
from labbench.physics.chip import Chip
from labbench.physics.models import RESET, SET

#: The SMU replies with 10 significant digits (NR3 ``{:.9E}``, labbench.sim.scpi): a current
#: I comes back within half a unit of its 10th digit, 0.5·10^(⌊log10 I⌋ − 9) A, and the
#: conductance I/V within that over V; the rest is the two float divisions' rounding (a few
#: ulp of G, ~1e-20 S).  The reading also carries the meter's noise floor (offset + noise,
#: within the datasheet's offset term on the range: labbench.sim.current_source), which
#: is in the instrument's reply, not in the chip: the chips' states stay identical.
SMU_SIGNIFICANT_DIGITS = 10


def meter_floor_siemens(current: float, voltage: float) -> float:
    """The 2450's measure offset on the range ``current`` autoranges to, over V (S)."""
    from labbench.sim.current_source import K2450_CURRENT, auto_range
    from labbench.sim.keithley2450 import I_RANGES

    return K2450_CURRENT[auto_range(current, I_RANGES, I_RANGES[0])][0] / abs(voltage)


def smu_resolution_siemens(current: float, voltage: float) -> float:
    """The conductance resolution of one SMU reply of ``current`` at ``voltage`` (S)."""
    if current == 0:
        return 0.0
    half_digit = 0.5 * 10.0 ** (math.floor(math.log10(abs(current))) - (SMU_SIGNIFICANT_DIGITS - 1))
    return half_digit / abs(voltage) + 4 * np.spacing(abs(current / voltage))


@pytest.fixture(scope="module")
def bench():
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        yield b


def test_resolution_is_the_reply_digit_not_more():
    # 3.9 µA at 0.1 V: the 10th digit of 3.900000000E-06 is 1e-15 A, so 5e-15 S
    assert smu_resolution_siemens(3.9e-6, 0.1) == pytest.approx(5e-15, rel=1e-3)
    assert smu_resolution_siemens(3.9e-6, 0.1) < 1e-9 * 39e-6   # far below pytest's default 1e-12 S


def test_same_pulse_sequence_same_state(bench):
    chip = bench.world.chip
    op = bench.config.operating
    twin = Chip(chip.model, chip.rows, chip.cols, seed=bench.config.chip.seed)
    twin.load_state_dict(chip.state_dict())
    rng = np.random.default_rng(3)
    reads = 0
    for _ in range(80):
        r, c, s = (int(x) for x in rng.integers(0, [4, 4, 2]))
        kind = rng.choice(["set", "reset", "read", "off-nominal", "strong-reset"], p=[0.4, 0.15, 0.25, 0.15, 0.05])
        idx = twin.flat(r, c, s)
        if kind == "read":
            g_bench = bench.read_cell(r, c, s)
            twin.advance_to(chip.time)   # the bench's chip saw the world's clock at this read
            # an SMU reading biases the cell for the model's dc_time: its read disturb too
            i = float(twin.current(idx, op.read_voltage, op.compliance, gate=op.read_gate,
                                   duration=chip.model.switching.dc_time)[0])
            assert g_bench == pytest.approx(i / op.read_voltage, rel=0,
                                            abs=smu_resolution_siemens(i, op.read_voltage)
                                            + meter_floor_siemens(i, op.read_voltage))
            reads += 1
        elif kind == "strong-reset":
            bench.reset_cell(r, c, s)
            twin.advance_to(chip.time)
            twin.dc(idx, -op.strong_reset_voltage, op.compliance, gate=op.strong_reset_gate)
        else:
            n = int(rng.integers(1, 6))
            d = kind if kind != "off-nominal" else str(rng.choice(["set", "reset"]))
            spec = op.set if d == "set" else op.reset
            amp, width, gate = spec.amplitude, spec.width, spec.gate
            if kind == "off-nominal":   # amplitude, width and gate each away from nominal
                amp = float(rng.choice([1.2, 1.4, 1.7, 2.0]))
                width = float(rng.choice([2e-7, 5e-7, 2e-6, 1e-5]))
                gate = float(rng.choice([0.7, 0.9, 1.0, 2.0]))
            bench.pulse_cell(r, c, s, d, n, amplitude=amp, width=width, gate=gate)
            twin.advance_to(chip.time)
            twin.pulse(idx, n, SET if d == "set" else RESET, amplitude=amp, width=width, gate=gate)
    a, b = chip.state_dict(), twin.state_dict()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert (chip.write_events > 0).sum() > 5 and reads > 10
    assert bench.now() > 0


@pytest.mark.parametrize("bench_file", ["sim.yaml", "sim_2600.yaml"])
def test_drift_and_read_disturb_same_through_the_instruments_and_direct_calls(bench_file):
    """Idle hours on the bench (virtual time, SCPI 2450/81160A or the 2600B's TSP) drift the
    chip exactly as direct Chip calls at the same times do, reads disturb it alike."""
    with Bench.from_yaml(BENCHES / bench_file) as b:
        chip, op = b.world.chip, b.config.operating
        assert chip.model.retention is not None and chip.model.read_disturb is not None
        twin = Chip(chip.model, chip.rows, chip.cols, seed=b.config.chip.seed)
        twin.load_state_dict(chip.state_dict())
        cells = [(0, 0, 0), (1, 2, 1), (3, 1, 0)]
        before, after = [], []
        for r, c, s in cells:
            b.pulse_cell(r, c, s, "set", 20)
            twin.advance_to(chip.time)
            twin.pulse(twin.flat(r, c, s), 20, SET, amplitude=op.set.amplitude, width=op.set.width,
                       gate=op.set.gate)
        for sleep, out in ((0.0, before), (3e4, after)):
            b.sleep(sleep)
            for r, c, s in cells:
                out.append(b.read_cell(r, c, s))
                twin.advance_to(chip.time)
                twin.current(twin.flat(r, c, s), op.read_voltage, op.compliance, gate=op.read_gate,
                             duration=chip.model.switching.dc_time)
        a, t = chip.state_dict(), twin.state_dict()
        for k in a:
            if k == "energy":   # summed in the same order here: equal too
                np.testing.assert_allclose(a[k], t[k], rtol=1e-12)
            else:
                assert np.array_equal(a[k], t[k]), k
        assert chip._drift_time >= 3e4
        # the drift the reads saw: the post-program relaxation (a few % of ln G, either way);
        # the long-term drift of the qualified default takes years
        moved = np.log(np.array(after) / np.array(before))
        assert (np.abs(moved) < 0.3).all() and (np.abs(moved) > 1e-4).any()
