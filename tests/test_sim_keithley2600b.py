"""The simulated Keithley 2636B over TSP (a real Lua interpreter), through both public
drivers, and the on-instrument pulse train on a bench."""
from __future__ import annotations

import itertools
import math
import time
import warnings

import numpy as np
import pytest
import pyvisa
from hypothesis import given, settings
from hypothesis import strategies as st

from labbench.instruments import Bench
from labbench.instruments.keithley2600 import TspPulseTrain, rehearse
from labbench.instruments.roles import SafetyError
from labbench.paths import BENCHES
from labbench.physics.chip import Chip
from labbench.physics.models import SET
from labbench.sim import LabbenchVisaLibrary, SimWorld

_names = itertools.count()
# PyMeasure's Keithley2600 is an SCPIUnknownMixin: it warns that nobody told it whether the
# instrument speaks SCPI (it speaks TSP)
pytestmark = pytest.mark.filterwarnings("ignore:It is not known whether this device support")


@pytest.fixture
def world():
    w = SimWorld()
    w.add("keithley2600b", "smu", "GPIB0::26::INSTR")
    key = w.register()
    yield w, f"{key}@labbench"
    w.unregister()


def _tsp(inst, text):
    inst.write(text.encode() + b"\n")


def _ask(inst, text):
    _tsp(inst, text)
    return inst.read().decode().rstrip("\n")


# -- PyMeasure Keithley2600 -------------------------------------------------------------------
PM_CHANNEL = {  # property -> (value set, value read back)
    "source_mode": ("current", "current"),
    "source_current": (1e-4, 1e-4),
    "source_current_range": (1e-3, 1e-3),
    "compliance_voltage": (5.0, 5.0),
    "current_range": (1e-5, 1e-5),
    "source_mode#2": ("voltage", "voltage"),
    "source_voltage_range": (2.0, 2.0),
    "source_voltage": (0.5, 0.5),
    "compliance_current": (1e-3, 1e-3),
    "voltage_range": (20.0, 20.0),
    "wires_mode": ("4", "4"),
    "source_output": ("ON", "ON"),
}
PM_READS = {"current", "voltage", "resistance"}
# map_values=True on a [0.001, 25] range: the driver maps the reply through a list index
PM_DRIVER_ISSUES = {"measure_nplc"}  # sends list indices: 25 goes out as nplc=1 (docs/simulated-instruments.md)


def test_pymeasure_2600_every_channel_property(world):
    import inspect

    from pymeasure.instruments.keithley import Keithley2600
    from pymeasure.instruments.keithley.keithley2600 import Channel

    props = {k for k in dir(Channel) if isinstance(inspect.getattr_static(Channel, k), property)}
    assert props == {k.split("#")[0] for k in PM_CHANNEL} | PM_READS | PM_DRIVER_ISSUES
    w, lib = world
    k = Keithley2600("GPIB0::26::INSTR", visa_library=lib)
    assert k.id == "Keithley Instruments Inc.,Model 2636B,4123456,4.0.4"
    for ch in (k.ChA, k.ChB):
        for key, (value, expected) in PM_CHANNEL.items():
            name = key.split("#")[0]
            setattr(ch, name, value)
            got = getattr(ch, name)
            assert got == pytest.approx(expected) if isinstance(expected, float) else got == expected, key
        for name in PM_READS:
            assert math.isfinite(getattr(ch, name)) or getattr(ch, name) > 1e37
        ch.apply_current(current_range=1e-3, compliance_voltage=1.0)
        ch.apply_voltage(voltage_range=2.0, compliance_current=1e-4)
        ch.measure_voltage(nplc=0.1)
        ch.measure_current(nplc=0.1, auto_range=False, current=1e-4)
        ch.ramp_to_voltage(0.2, steps=3, pause=0)
        ch.ramp_to_current(0.0, steps=2, pause=0) if ch.source_mode == "current" else None
        ch.auto_range_source()
        ch.source_output = "OFF"   # what shutdown() ends with (its ramp sleeps 3 s of wall time)
        assert ch.source_output == "OFF"
    assert k.check_errors() == []
    assert k.next_error == (0, "Queue Is Empty")
    k.write("smua.source.levelv = 500")
    assert k.next_error[0] == -222 and k.next_error == (0, "Queue Is Empty")
    assert w.instruments["smu"].outputs_on() == []


@pytest.mark.parametrize("chunk, code", [
    ("smua.source.levelv = 500", -222),          # +-202 V (200 V range + over-range)
    ("smua.source.limiti = 2", -222),            # 100 pA .. 1.5 A
    ("smua.measure.nplc = 30", -222),            # 0.001 .. 25
    ("smua.source.rangev = 300", -222),
    ("smua.source.output = 7", -222),
    ("smua.source.nosuch = 1", -286),            # no such attribute
    ("smua.OUTPUT_ON = 3", -286),                # constants are read-only
    ("x = = 1", -285),                           # Lua syntax error
    ("error('boom')", -286),
    ("os.execute('ls')", -286),                  # no host access in the sandbox
    ("smua.source.levelv = 0/0", -222),          # NaN
])
def test_tsp_errors_go_to_the_queue_and_the_instrument_stays_usable(world, chunk, code):
    from pymeasure.instruments.keithley import Keithley2600

    _, lib = world
    k = Keithley2600("GPIB0::26::INSTR", visa_library=lib)
    k.write(chunk)
    errs = k.check_errors()
    assert [e[0] for e in errs] == [code], errs
    assert all(str(e[1]).isascii() for e in errs)
    k.ChA.source_voltage = 0.25
    assert k.ChA.source_voltage == 0.25 and k.check_errors() == []


# -- QCoDeS Keithley2636B ---------------------------------------------------------------------
QC_CHANNEL = {
    "mode": ("current", "current"),
    "mode#2": ("voltage", "voltage"),
    "output": (True, True),
    "nplc": (0.2, 0.2),
    "four_wire_measurement": (True, True),
    "sourcerange_v": (2.0, 2.0),
    "source_autorange_v_enabled": (True, True),
    "measurerange_v": (20.0, 20.0),
    "measure_autorange_v_enabled": (False, False),
    "sourcerange_i": (1e-3, 1e-3),
    "source_autorange_i_enabled": (False, False),
    "measurerange_i": (1e-6, 1e-6),
    "measure_autorange_i_enabled": (True, True),
    "limitv": (10.0, 10.0),
    "limiti": (1e-3, 1e-3),
    "volt": (0.4, 0.4),
    "timetrace_npts": (20, 20),
    "timetrace_dt": (1e-2, 1e-2),
    "timetrace_mode": ("current", None),  # set-only in the driver
}
QC_READS = {"curr", "res", "linefreq", "time_axis", "timetrace"}
# read back by a measurement (measure.v()): the level within the offset of the fixed 20 V
# measure range set above (2636B datasheet: 5 mV)
QC_MEASURED = {"volt": 5e-3}
QC_SWEEPS = {"fastsweep"}  # set up with QCoDeS dataset sweep objects: its own test below


def test_qcodes_2636b_every_channel_parameter(world):
    from qcodes.instrument_drivers.Keithley import Keithley2636B

    w, lib = world
    q = Keithley2636B(f"q{next(_names)}", "GPIB0::26::INSTR", visalib=lib)
    try:
        assert q.model == "2636B" and q.get_idn()["model"] == "2636B"
        for ch in q.channels:
            assert set(ch.parameters) == {k.split("#")[0] for k in QC_CHANNEL} | QC_READS | QC_SWEEPS
            for key, (value, expected) in QC_CHANNEL.items():
                p = ch.parameters[key.split("#")[0]]
                p(value)
                if expected is not None:
                    got = p()
                    assert got == pytest.approx(expected, abs=QC_MEASURED.get(key)) if isinstance(expected, float) \
                        else got == expected, key
            assert ch.linefreq() == 50.0
            # nothing connected: the meter's floor (lowest autorange 10 nA: 2636B offset 3 pA), not 0
            assert 0 < abs(ch.curr()) <= 3e-12 and ch.curr.measurement_status is not None
            trace = ch.timetrace()       # QCoDeS's own TSP script, binary REAL32 reply
            assert trace.shape == (20,) and np.all(np.abs(trace) <= 3e-12) and np.any(trace != 0.0)
            ch.reset()
        q.display_settext("labbench")
        q.display_normal()
        q.display_clear()
        q.reset()
        assert q.smua.output() is False
        assert q.ask("errorqueue.count") == "0.00000e+00"
    finally:
        q.close()


def test_qcodes_2636b_fastsweep_in_one_and_two_dimensions(world):
    """QCoDeS's own Lua sweep scripts (1D IV, 2D over both channels, VI), REAL32 replies."""
    from qcodes.dataset import LinSweep
    from qcodes.instrument_drivers.Keithley import Keithley2636B

    w, lib = world
    q = Keithley2636B(f"q{next(_names)}", "GPIB0::26::INSTR", visalib=lib)
    try:
        for ch, other in ((q.smua, q.smub), (q.smub, q.smua)):
            ch.setup_fastsweep(LinSweep(ch.volt, 0, 0.5, 11, 1e-3))
            data = ch.fastsweep()
            # nothing connected: the meter's floor at every point (lowest autorange 10 nA: offset 3 pA)
            assert data.shape == (11,) and np.all(np.abs(data) <= 3e-12) and np.any(data != 0)
            ch.setup_fastsweep(LinSweep(ch.volt, 0, 0.5, 5, 0), LinSweep(other.volt, 0, 1, 3, 0))
            assert ch.fastsweep().shape == (3, 5)
            ch.setup_fastsweep(LinSweep(ch.curr, 0, 1e-6, 4, 0), mode="VI")
            v = ch.fastsweep()
            # a current into an open circuit: the voltage sits at the 20 V limit (in compliance)
            assert v.shape == (4,) and np.allclose(v[1:], 20.0, atol=5e-3)
            ch.output(False)
            other.output(False)
        assert q.ask("errorqueue.count") == "0.00000e+00"
        assert w.instruments["smu"].outputs_on() == []
    finally:
        q.close()


# -- TSP runtime ------------------------------------------------------------------------------
def test_scripts_load_run_and_delete(world):
    w, _ = world
    smu = w.instruments["smu"]
    _tsp(smu, "loadscript twice\nfunction twice(x) return 2 * x end\nendscript")
    assert _ask(smu, "print(type(twice))") == "table"   # a script object, not yet its function
    _tsp(smu, "twice()")                      # running the script defines its function
    assert _ask(smu, "print(twice(21))") == "4.20000e+01"
    _tsp(smu, "loadandrunscript\nfor i = 1, 3 do smua.nvbuffer1.clear() end\nprint('ran')\nendscript")
    assert smu.read() == b"ran\n"
    assert _ask(smu, "print(script.user.scripts.twice.name)") == "twice"
    _tsp(smu, "script.delete('twice')")
    _tsp(smu, "twice()")
    assert smu.errors.codes() == [-286]


def test_printbuffer_formats(world):
    w, _ = world
    smu = w.instruments["smu"]
    _tsp(smu, "smua.source.output = 1; smua.source.levelv = 0.5; smua.measure.count = 3")
    _tsp(smu, "smua.nvbuffer1.clear(); smua.measure.v(smua.nvbuffer1); smua.measure.count = 1")
    assert _ask(smu, "print(smua.nvbuffer1.n)") == "3.00000e+00"
    # the source values are the level; the readings the level within the 2 V range's offset (350 µV)
    assert _ask(smu, "printbuffer(1, 3, smua.nvbuffer1.sourcevalues)") == "5.00000e-01, 5.00000e-01, 5.00000e-01"
    readings = _ask(smu, "printbuffer(1, 3, smua.nvbuffer1.readings)").split(", ")
    assert all(len(r) == 11 and float(r) == pytest.approx(0.5, abs=350e-6) for r in readings)
    _tsp(smu, "format.data = format.REAL32; format.byteorder = format.LITTLEENDIAN")
    _tsp(smu, "printbuffer(1, 2, smua.nvbuffer1.sourcevalues)")
    raw = smu.read()
    assert raw[:2] == b"#0" and np.frombuffer(raw[2:-1], "<f4").tolist() == [0.5, 0.5]
    _tsp(smu, "printbuffer(1, 9, smua.nvbuffer1.readings)")
    assert smu.errors.codes() == [-222]


def test_a_long_reply_read_in_small_chunks_arrives_whole(world):
    w, lib = world
    r = pyvisa.ResourceManager(lib).open_resource("GPIB0::26::INSTR", read_termination="\n",
                                                  write_termination="\n")
    r.chunk_size = 16
    assert r.query("printnumber(1, 2, 3, 4, 5, 6)") == ", ".join(["%.5e" % x for x in range(1, 7)])
    r.close()


def test_a_runaway_script_is_stopped_by_the_visa_timeout_and_leaves_outputs_off(world):
    w, lib = world
    rm = pyvisa.ResourceManager(lib)
    r = rm.open_resource("GPIB0::26::INSTR", read_termination="\n", write_termination="\n")
    r.timeout = 500  # ms
    r.write("smua.source.output = 1; smub.source.output = 1; smua.source.levelv = 1")
    assert w.instruments["smu"].outputs_on() == ["hi", "b"]
    t0 = time.perf_counter()
    r.write("loadandrunscript\nwhile true do end\nendscript")
    r.write("while true do pcall(function() while true do end end) end")   # pcall cannot keep it going
    r.write("for i = 1, 1e12 do delay(0.1) end")                           # nor waiting in virtual time
    with pytest.raises(pyvisa.errors.VisaIOError):
        r.read()  # nothing was printed: the driver's read times out
    assert time.perf_counter() - t0 < 2.0
    assert w.instruments["smu"].outputs_on() == []
    assert r.query("print(errorqueue.count)") == "3.00000e+00"
    code, msg, *_ = r.query("print(errorqueue.next())").split("\t")
    assert float(code) == -286 and "VISA timeout" in msg
    assert r.query("print(1 + 1)") == "2.00000e+00"   # still usable
    r.close()


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="smuab.sourcelvi=0123456789()[]{}-+*/,;'\"\n forwhiledoendprint", max_size=60))
def test_arbitrary_tsp_never_raises_nor_hangs(chunk):
    w = SimWorld()
    smu = w.add("keithley2600b", "smu", "GPIB0::26::INSTR")
    smu.visa_timeout = 0.05
    smu.write(chunk.encode())
    smu.clear()
    smu.write(b"*IDN?\n")
    assert smu.read().startswith(b"Keithley Instruments Inc.,Model 2636B")


# -- the on-instrument pulse train on a bench -------------------------------------------------
@pytest.fixture
def bench2600():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Bench.from_yaml(BENCHES / "sim_2600.yaml") as b:
            yield b


def test_tsp_train_scpi_path_and_direct_chip_calls_leave_identical_chips(bench2600):
    """One physics, three paths: a TSP pulse train on the 2600B, the same pulses cell by
    cell through the 2450/81160A bench, and direct Chip calls."""
    b = bench2600
    op = b.config.operating
    chip = b.world.chip
    twin = Chip(chip.model, chip.rows, chip.cols, seed=b.config.chip.seed)
    twin.load_state_dict(chip.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scpi = Bench.from_yaml(BENCHES / "sim.yaml")
    try:
        scpi.world.chip.load_state_dict(chip.state_dict())
        train = TspPulseTrain(b)
        cells = [(5, 7, 0), (2, 3, 1), (5, 7, 0)]
        for r, c, s in cells:
            g_tsp = train.run(r, c, s, 16)
            g_scpi = []
            for _ in range(16):
                scpi.pulse_cell(r, c, s, "set", 1)
                g_scpi.append(scpi.read_cell(r, c, s))
            idx = twin.flat(r, c, s)
            g_chip = []
            for _ in range(16):
                twin.pulse(idx, 1, SET, amplitude=op.set.amplitude, width=op.set.width, gate=op.set.gate)
                # an SMU reading biases the cell for dc_time (its read disturb)
                g_chip.append(float(twin.current(idx, op.read_voltage, op.compliance,
                                                 duration=chip.model.switching.dc_time)[0]) / op.read_voltage)
            assert np.allclose(g_tsp, g_chip, rtol=1e-9) and np.allclose(g_scpi, g_chip, rtol=1e-12)
        for k, v in chip.state_dict().items():
            assert np.array_equal(v, twin.state_dict()[k]), k
            assert np.array_equal(v, scpi.world.chip.state_dict()[k]), k
        assert b.source_meter.adapter.errors() == []
    finally:
        scpi.close()


def test_tsp_train_costs_few_transactions(bench2600):
    b = bench2600
    train = TspPulseTrain(b)
    train.run(0, 0, 0, 4)                       # upload and first route
    n0, t0 = b.world.transactions, b.world.clock.now()
    train.run(0, 0, 0, 64)
    assert b.world.transactions - n0 == 2       # one call, one reply (route unchanged)
    assert b.world.clock.now() - t0 < 64 * 2e-3


@pytest.mark.parametrize("kwargs", [{"amplitude": 3.6}, {"gate": 3.5}, {"amplitude": float("nan")},
                                    {"width": 0.0}])
def test_tsp_train_refuses_values_outside_the_bench_limits_before_sending(bench2600, kwargs):
    smu = bench2600.world.instruments["smu"]
    smu.log = []
    with pytest.raises(SafetyError, match="nothing was sent"):
        TspPulseTrain(bench2600).run(0, 0, 0, 4, **kwargs)
    assert smu.log == []


@pytest.mark.parametrize("script", [
    "smua.source.levelv = 4",                                         # a literal TSP assignment
    "for v = 0, 5, 0.5 do smua.source.levelv = v end",                # computed in a loop
    "loadscript s\nfunction f() smub.source.levelv = 3.2 end\nf()\nendscript\ns()",  # inside a script
    "smua.source.limiti = 0.01",                                      # compliance above 1 mA
])
def test_scripts_outside_the_limits_are_refused_by_the_rehearsal(script):
    limits = {"hi": (3.5, 1e-3), "b": (3.0, 1e-3)}
    with pytest.raises(SafetyError, match="nothing was sent"):
        rehearse(script, limits)
    rehearse("smua.source.levelv = 3.4; smub.source.levelv = 2.9; smua.source.limiti = 1e-4", limits)


def test_raw_tsp_is_not_a_public_api(bench2600):
    train = TspPulseTrain(bench2600)
    assert not any(hasattr(train, n) for n in ("send", "upload", "write"))


def test_a_2450_bench_has_no_tsp_path():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Bench.from_yaml(BENCHES / "sim.yaml") as b:
            with pytest.raises(ValueError, match="does not run TSP"):
                TspPulseTrain(b)


def test_library_object_opens_the_2600_bench():
    w = SimWorld()
    w.add("keithley2600b", "smu", "TCPIP0::192.168.0.26::inst0::INSTR")
    rm = pyvisa.ResourceManager(LabbenchVisaLibrary.for_world(w))
    r = rm.open_resource("TCPIP0::192.168.0.26::inst0::INSTR", read_termination="\n", write_termination="\n")
    assert r.query("print(localnode.model)") == "2636B"
    from labbench.sim.transport import TRANSPORTS
    assert w.transport_time == pytest.approx(2 * TRANSPORTS["TCPIP"].latency, rel=0.01)
    r.close()
    LabbenchVisaLibrary.release(w)


def test_the_tsp_pulse_train_procedure_records_a_run(tmp_path):
    from click.testing import CliRunner

    from labbench.cli import main

    db = tmp_path / "d.db"
    r = CliRunner().invoke(main, ["measure", "tsp-pulse-train", "--bench", str(BENCHES / "sim_2600.yaml"),
                                  "-p", "cells=0, 0:2", "-p", "sides=+", "-p", "cycles=1", "-p", "pulses=8",
                                  "--db", str(db)])
    assert r.exit_code == 0, r.output
    assert "finished, 18 rows" in r.output


def test_the_qcodes_2600_adapter_drives_the_same_bench(tmp_path):
    p = tmp_path / "b.yaml"
    p.write_text((BENCHES / "sim_2600.yaml").read_text().replace("pymeasure.keithley2600b", "qcodes.keithley2600b"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Bench.from_yaml(p) as b:
            assert "2636B" in b.source_meter.adapter.idn()
            g0 = b.read_cell(1, 1, 0)
            g = TspPulseTrain(b).run(1, 1, 0, 8)
            assert g.shape == (8,) and g[-1] > g0
            assert b.source_meter.adapter.errors() == []
            assert b.source_meter.adapter.settings()["mode"] == "voltage"


def test_source_compliance_says_whether_the_last_reading_hit_the_limit(bench2600):
    smu = bench2600.world.instruments["smu"]
    TspPulseTrain(bench2600).route(0, 0, 0)          # channel A on BL0, channel B on WL0
    setup = ("smua.source.func = 1; smub.source.limiti = 1e-3; smub.source.levelv = 1.8; smub.source.output = 1; "
             "smua.source.levelv = 0.2; smua.source.output = 1; ")
    answers = []
    for limit in ("1e-8", "1e-3"):
        _tsp(smu, setup + f"smua.source.limiti = {limit}; x = smua.measure.i(); print(smua.source.compliance)")
        answers.append(smu.read().decode().strip())
    assert answers == ["true", "false"]
    _tsp(smu, "smua.source.compliance = true")       # read-only, as on the instrument
    assert len(smu.errors) == 1 and "read-only" in smu.errors.pop()
    _tsp(smu, "smua.source.output = 0; smub.source.output = 0")
