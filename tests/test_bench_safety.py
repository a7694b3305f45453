"""Safety limits refuse before sending; outputs are off on every exit path; clock; snapshot."""
import pytest

from labbench.instruments import Bench, SafetyError
from labbench.paths import BENCHES


def _all_off(world):
    return {n: i.outputs_on() for n, i in world.instruments.items() if i.outputs_on()} == {} and \
        not world.instruments["matrix"].closed


@pytest.fixture
def bench():
    with Bench.from_yaml(BENCHES / "sim.yaml") as b:
        for inst in b.world.instruments.values():
            inst.log = []
        yield b


@pytest.mark.parametrize("call, words", [
    (lambda b: b.pulse_cell(0, 0, 0, "set", 1, amplitude=4.2), ["pg.ch1", "4.2", "max_voltage"]),
    (lambda b: b.pulse_cell(0, 0, 0, "set", 1, width=5e-3), ["pg.ch1", "max_pulse_width"]),
    (lambda b: b.pulse_cell(0, 0, 0, "reset", 1, gate=3.3), ["pg.ch2", "3.3"]),
    (lambda b: b.read_cell(0, 0, 0, voltage=-3.6), ["smu.hi", "-3.6"]),
    (lambda b: b.source_meter.configure(5e-3, 0.01), ["smu.hi", "compliance", "max_compliance"]),
])
def test_limits_refuse_before_anything_is_sent(bench, call, words):
    with pytest.raises(SafetyError) as e:
        call(bench)
    for w in words:
        assert w in str(e.value)
    assert "nothing was sent" in str(e.value)
    sent = [m for i in bench.world.instruments.values() for m in i.log]
    assert sent == []  # not even the routing


def test_outputs_off_after_an_exception():
    with pytest.raises(RuntimeError):
        with Bench.from_yaml(BENCHES / "sim.yaml") as b:
            b.read_cell(0, 0, 0)
            b.pulse_cell(0, 1, 0, "set", 2)
            assert not _all_off(b.world)
            raise RuntimeError("procedure crashed")
    assert _all_off(b.world)


def test_outputs_off_after_ctrl_c():
    with pytest.raises(KeyboardInterrupt):
        with Bench.from_yaml(BENCHES / "sim.yaml") as b:
            b.read_cell(3, 3, 1)
            raise KeyboardInterrupt
    assert _all_off(b.world)


def test_virtual_clock(bench):
    t0 = bench.now()
    bench.sleep(1e4)  # a retention bake replays instantly
    assert bench.now() == pytest.approx(t0 + 1e4)
    bench.pulse_cell(0, 0, 0, "set", 10)  # 10 pulses at period 2 µs
    assert bench.now() == pytest.approx(t0 + 1e4 + 10 * 2e-6)
    with pytest.raises(ValueError):
        bench.sleep(-1)


def test_snapshot_has_idns_settings_wiring_limits_model(bench):
    bench.read_cell(0, 0, 0)
    s = bench.snapshot()
    assert s["simulated"] is True
    assert s["instruments"]["smu"]["idn"].startswith("KEITHLEY")
    assert "81160A" in s["instruments"]["pg"]["idn"]
    assert s["instruments"]["smu"]["settings"]["output"] is True
    assert s["wiring"]["inputs"][1] == "smu.hi"
    assert s["limits"]["pg.ch1"]["max_pulse_width"] == 1e-3
    assert s["chip"]["model"]["name"] == "hfox_2t2r_default"
    import json
    json.dumps(s)  # dataset metadata must serialise


def test_resource_manager_by_name():
    import pyvisa

    rm = pyvisa.ResourceManager("@labbench")
    assert "GPIB0::24::INSTR" in rm.list_resources()
    r = rm.open_resource("GPIB0::24::INSTR", read_termination="\n")
    assert r.query("*IDN?").startswith("KEITHLEY")
    r.close()
    rm2 = pyvisa.ResourceManager(str(BENCHES / "sim.yaml") + "@labbench")
    assert "GPIB0::22::INSTR" in rm2.list_resources()


def test_hardware_path_uses_the_given_visa_library_and_real_time():
    """``simulated: false``: drivers open the addresses through ``visa_library`` (here
    our backend serving the bench file stands in for NI-VISA) and the clock is real."""
    import yaml

    from labbench.instruments import BenchConfig

    cfg = yaml.safe_load((BENCHES / "sim.yaml").read_text())
    for inst in cfg["instruments"].values():
        inst["simulated"] = False
    cfg["instruments"]["smu"]["driver"] = "qcodes.keithley2450"
    cfg["visa_library"] = f"{BENCHES / 'sim.yaml'}@labbench"
    with Bench(BenchConfig.model_validate(cfg)) as b:
        assert not b.simulated and b.world is None
        g0 = b.read_cell(0, 2, 0)
        b.pulse_cell(0, 2, 0, "set", 10)
        assert b.read_cell(0, 2, 0) > g0
        t0 = b.now()
        b.sleep(0.01)
        assert b.now() - t0 >= 0.01
        assert b.snapshot()["instruments"]["smu"]["idn"].startswith("KEITHLEY")


def test_no_biased_source_is_switched_onto_a_line(bench):
    """Moving the SMU to another cell: it goes to 0 V before any relay moves; sweeping
    the voltage on one route does not blip through 0 V."""
    events = []
    for name in ("smu", "matrix"):
        inst = bench.world.instruments[name]
        inst.execute = (lambda orig, name: lambda msg: (events.append((name, msg)), orig(msg)))(inst.execute, name)  # noqa: B023 - bound by the outer lambda

    def zeroing(msg):
        return msg.startswith(":SOUR:VOLT:LEV") and float(msg.split()[1]) == 0.0

    bench.read_current(0, 0, 0, 0.3)
    events.clear()
    bench.read_current(0, 0, 0, 0.4)          # same route: no zeroing, no relay
    assert [n for n, _ in events] == ["smu", "smu"] and not any(zeroing(m) for _, m in events)
    events.clear()
    bench.read_current(1, 2, 1, 0.4)          # new route
    first_relay = next(i for i, (n, _) in enumerate(events) if n == "matrix")
    first_zero = next(i for i, (n, m) in enumerate(events) if n == "smu" and zeroing(m))
    assert first_zero < first_relay


@pytest.mark.parametrize("kwargs", [{"n": 0}, {"n": 2.5}, {"amplitude": -1.0}])
def test_bad_pulse_requests_are_refused_before_sending(bench, kwargs):
    with pytest.raises(ValueError):
        bench.pulse_cell(0, 0, 0, "set", **{"n": 1, **kwargs})
    assert [m for i in bench.world.instruments.values() for m in i.log] == []
