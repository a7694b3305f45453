"""Fit round trip on the simulated bench: the pulse-train sweeps over gate, amplitude and
width, measured through the instruments, give back the chip's k, v0 and τ (issue 13)."""
import numpy as np
import pytest

from labbench.fitting.io import DataError, load_pulse_trains
from labbench.fitting.switching import fit_switching
from labbench.instruments import Bench
from labbench.paths import BENCHES
from labbench.procedures import PulseTrain
from labbench.runner import run_procedure


@pytest.fixture(scope="module")
def sweep():
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        proc = PulseTrain(cells="0:2, 0", sides="+-", cycles=2, pulses=24,
                          gates="0.7, 0.9", amplitudes="1.3, 1.7", widths="1e-5, 1e-4")
        df = run_procedure(proc, b, None, progress=False).data
        yield df, b.world.chip.model


def test_round_trip_recovers_gate_amplitude_and_width_dependence(sweep):
    df, truth = sweep
    fit = fit_switching(df, truth)
    sw = truth.switching
    for name, value in (("transistor_k", sw.transistor_k), ("v0", sw.set_kinetics.v0),
                        ("log10_tau", np.log10(sw.set_kinetics.tau))):
        lo, hi = fit.interval[name]
        if name == "log10_tau" and not fit.resolved[name]:
            # widths of 10 and 100 µs against τ = 100 µs: the 100 µs train saturates in its
            # first pulse, the 10 µs one is still linear in width, so τ may not be seen; then
            # it must be said, and kept at the model's value, not invented
            assert fit.params[name] == pytest.approx(value) and any("widths" in n for n in fit.notes)
            continue
        assert fit.resolved[name], name
        assert lo <= value <= hi, (name, value, lo, hi)
        assert hi - lo < {"transistor_k": 0.3 * value, "v0": 0.2 * value, "log10_tau": 2.5}[name], name
    # the conditions measured three different step sizes, and the model follows them
    cond = fit.conditions.set_index("condition")
    np.testing.assert_allclose(cond.model_first_step, cond.first_step, rtol=0.35, atol=2e-7)
    summary = fit.summary()
    assert summary["params"]["tau"]["value"] == pytest.approx(fit.tau)
    fitted = fit.apply_to(truth)
    assert fitted.switching.transistor_k == pytest.approx(fit.params["transistor_k"])


def test_unmeasured_dependence_is_reported_not_invented(sweep):
    df, truth = sweep
    # amplitude and width only, at one gate: the transistor's linear region already feels k
    # (physics.circuit), so leave out the amplitude sweep instead: v0 is then unmeasured
    only_width = df[df.gate.eq(df.gate.iloc[0]) & df.amplitude.eq(df.amplitude.iloc[0])]
    fit = fit_switching(only_width, truth)
    assert not fit.resolved["v0"]
    assert fit.params["v0"] == truth.switching.set_kinetics.v0
    assert any("amplitude" in n for n in fit.notes)


def test_update_model_fit_uses_the_nominal_condition(sweep):
    df, _ = sweep
    nominal = load_pulse_trains(df.drop(columns=["gate", "amplitude", "width", "time"]))
    assert len(nominal) == (df.condition == 0).sum()


def test_sweep_columns_are_required(sweep):
    df, truth = sweep
    with pytest.raises(DataError, match="gate"):
        fit_switching(df.drop(columns=["gate"]), truth)


def test_labbench_fit_learns_the_sweep_into_the_device_model(sweep, tmp_path):
    from click.testing import CliRunner

    from labbench.fitting.cli import fit

    df, truth = sweep
    csv = tmp_path / "sweep.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "fitted.yaml"
    res = CliRunner().invoke(fit, [str(csv), "--model", "neurosim", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "switching transistor_k=" in res.output and "95 %" in res.output
    from labbench.physics import DeviceModel

    fitted = DeviceModel.from_yaml(out)
    assert fitted.switching.transistor_k == pytest.approx(truth.switching.transistor_k, rel=0.15)
    assert fitted.switching.set_kinetics.v0 == pytest.approx(truth.switching.set_kinetics.v0, rel=0.15)
    assert fitted.fit["switching"]["params"]["v0"]["ci95"][0] < fitted.switching.set_kinetics.v0
