"""Behaviour the manuals state and the simulated instruments must show (issue 9)."""
import numpy as np
import pytest
import pyvisa

from labbench.instruments.config import BenchConfig
from labbench.sim import LabbenchVisaLibrary, SimWorld
from labbench.sim.keithley2450 import Keithley2450Sim
from labbench.sim.scpi import SCPIError, extract_blocks

from test_sim_drivers import SMALL


@pytest.fixture
def bench_world():
    w = BenchConfig.model_validate(SMALL).build_world()
    yield w
    w.unregister()


def _send(inst, *messages):
    for m in messages:
        inst.write(m.encode() + b"\n")


def _query(inst, message):
    inst.write(message.encode() + b"\n")
    return inst.read().decode().strip()


@pytest.mark.parametrize("mode, level", [("NORM", 0.0), ("ZERO", 0.0), ("HIMP", None), ("GUAR", None)])
def test_2450_output_off_state_sets_the_line(bench_world, mode, level):
    smu = bench_world.instruments["smu"]
    _send(smu, f":OUTP:VOLT:SMOD {mode}", ":SOUR:VOLT 0.7")
    assert smu.terminal_level("hi") == level          # output off
    _send(smu, ":OUTP ON")
    assert smu.terminal_level("hi") == 0.7
    assert _query(smu, ":OUTP:VOLT:SMOD?") == mode


def test_2450_normal_off_state_is_a_return_path_himp_is_not(bench_world):
    """NORMal off holds SL at 0 V through the closed relay: a pulse on BL programs the cell;
    with HIMPedance the SL floats and the same pulse does nothing."""
    w = bench_world
    smu, pg, mx = (w.instruments[n] for n in ("smu", "pg", "matrix"))
    idx = w.chip.flat(0, 0, 0)
    # pulse (input 3) on BL0 = output 11, gate (5) on WL0 = output 1, SMU HI (1) on SL = 48
    _send(mx, ":CLOS (@10311,10501,10148)")
    _send(pg, ":APPL2:DC DEF, DEF, 1.2", ":OUTP2 ON", ":FUNC1 PULS", ":PULS:PER1 2e-6",
          ":PULS:WIDT1 1e-6", ":VOLT1:HIGH 1.5", ":VOLT1:LOW 0", ":ARM:SOUR1 MAN", ":OUTP1 ON")
    _send(smu, ":OUTP:VOLT:SMOD HIMP")
    g0 = w.chip.g[idx]
    _send(pg, "*TRG")
    assert w.chip.g[idx] == g0
    _send(smu, ":OUTP:VOLT:SMOD NORM")
    _send(pg, "*TRG")
    assert w.chip.g[idx] > g0
    assert smu.errors.codes() == pg.errors.codes() == mx.errors.codes() == []


def test_81160a_dc_accepts_every_level_inside_its_window():
    w = SimWorld()
    pg = w.add("keysight81160a", "pg", "GPIB0::10::INSTR")
    _send(pg, ":FUNC2 PULS", ":VOLT2 9", ":VOLT2:OFFS 0")          # 9 Vpp pulse: +-4.5 V
    _send(pg, ":APPL2:DC DEF, DEF, 4.8")                           # DC: only the level counts
    assert float(_query(pg, ":VOLT2:OFFS?")) == 4.8 and pg.terminal_level("ch2") is None
    _send(pg, ":OUTP2 ON", ":VOLT2:OFFS -4.9")
    # -4.9 V is programmed for a 50 ohm load; the line (a high-impedance cell) gets the
    # open-circuit voltage, twice that
    assert pg.terminal_level("ch2") == -9.8
    assert pg.errors.codes() == []
    _send(pg, ":APPL2:DC DEF, DEF, 5.5")                           # outside +-5 V into 50 ohm
    _send(pg, ":OUTP2:LOAD 1e6", ":APPL2:DC DEF, DEF, 9.5")        # high impedance: +-10 V
    assert pg.errors.codes() == [-221] and pg.terminal_level("ch2") == pytest.approx(9.5 * (1e6 + 50) / 1e6)
    _send(pg, ":OUTP2:LOAD INF", ":APPL2:DC DEF, DEF, 9.5")        # INFinity: the level is what the line gets
    assert pg.terminal_level("ch2") == 9.5 and float(_query(pg, ":OUTP2:LOAD?")) == 9.9e37
    _send(pg, ":OUTP2:LOAD 50")                    # 9.5 V does not fit +-5 V: brought inside, not refused
    assert pg.errors.codes() == [-221] and float(_query(pg, ":VOLT2:OFFS?")) == 5.0


def test_81160a_amplitude_offset_high_low_are_one_pair():
    pg = SimWorld().add("keysight81160a", "pg", "GPIB0::10::INSTR")
    _send(pg, ":FUNC1 PULS", ":VOLT1:HIGH 2", ":VOLT1:LOW 0.5")
    assert float(_query(pg, ":VOLT1?")) == 1.5 and float(_query(pg, ":VOLT1:OFFS?")) == 1.25
    _send(pg, ":VOLT1 1")
    assert (float(_query(pg, ":VOLT1:HIGH?")), float(_query(pg, ":VOLT1:LOW?"))) == (1.75, 0.75)
    _send(pg, ":PULS:HOLD1 DCYC", ":PULS:PER1 1e-6", ":PULS:DCYC1 25", ":PULS:PER1 4e-6")
    assert float(_query(pg, ":PULS:WIDT1?")) == pytest.approx(1e-6)  # duty cycle held
    assert pg.errors.codes() == []


def test_2450_count_readings_go_to_the_buffer_read_returns_the_last():
    w = SimWorld()
    smu = w.add("keithley2450", "smu", "GPIB0::24::INSTR")
    _send(smu, ":SOUR:VOLT 0.5", ":OUTP ON", ":SENS:FUNC 'VOLT'", ":SENS:COUN 3")
    assert float(_query(smu, ":READ?")) == pytest.approx(0.5, abs=300e-6)   # one value (2 V range offset)
    assert _query(smu, ":TRAC:ACT?") == "3"
    assert len(_query(smu, ":TRAC:DATA? 1, 3").split(",")) == 3
    assert float(_query(smu, ":TRAC:STAT:AVER?")) == pytest.approx(0.5, abs=300e-6)
    _send(smu, ":TRAC:MAKE 'mybuf', 10", ":TRAC:FILL:MODE ONCE, 'mybuf'")
    for _ in range(5):
        _query(smu, ":READ? 'mybuf'")
    assert _query(smu, ":TRAC:ACT? 'mybuf'") == "10"                  # fill once: stops full
    rows = _query(smu, ":TRAC:DATA? 1, 2, 'mybuf', READ, SOUR, UNIT").split(",")
    assert rows[1::3] == ["5.000000000E-01"] * 2 and rows[2::3] == ["Volt DC"] * 2   # the source value is the level
    assert all(float(r) == pytest.approx(0.5, abs=300e-6) and len(r) == 15 for r in rows[0::3])  # a measured one
    assert smu.errors.codes() == []


def test_2450_source_and_sense_ranges_follow_the_manual():
    smu = SimWorld().add("keithley2450", "smu", "GPIB0::24::INSTR")
    _send(smu, ":SENS:CURR:RANG 3e-5")        # the next range up
    assert float(_query(smu, ":SENS:CURR:RANG?")) == 1e-4 and _query(smu, ":SENS:CURR:RANG:AUTO?") == "0"
    _send(smu, ":SOUR:VOLT 15")               # autorange picks the 20 V range
    assert float(_query(smu, ":SOUR:VOLT:RANG?")) == 20.0
    _send(smu, "*RST")
    assert _query(smu, ":SENS:CURR:RANG:AUTO?") == "1" and float(_query(smu, ":SOUR:VOLT:ILIM?")) == 1.05e-4
    assert float(_query(smu, ":SOUR:CURR:VLIM?")) == 21.0 and _query(smu, ":OUTP:CURR:SMOD?") == "NORM"


def test_every_error_message_is_ascii_and_pymeasure_reads_it():
    from pymeasure.instruments.keysight import Keysight81160A

    w = SimWorld()
    w.add("keysight81160a", "pg", "GPIB0::10::INSTR")
    pg = Keysight81160A("GPIB0::10::INSTR", visa_library=LabbenchVisaLibrary.for_world(w))
    pg.write(":VOLT1:HIGH 6")                 # a window message ("+-5 V")
    pg.adapter.connection.write_raw(":DISP:TEXT 'caf\u00e9'\n".encode())  # non-ASCII in: -101
    errs = pg.check_errors()
    assert [int(e[0]) for e in errs] == [-221, -101]
    assert all(str(e[1]).isascii() for e in errs)
    assert SCPIError(-222, "\u00b15 V").entry().isascii()
    w.unregister()


def test_b2200_bias_mode_drives_enabled_unconnected_outputs():
    mx = SimWorld().add("keysight_b220x", "mx", "GPIB0::22::INSTR")
    assert _query(mx, "*IDN?") == "AGILENT,B2201A,0,A.01.00"
    _send(mx, ":BIAS:CHAN:ENAB (@10101:10104)", ":CLOS (@10302)", ":BIAS 1,ON")
    assert sorted(mx.conducting()) == [(1, 3, 2), (1, 10, 1), (1, 10, 3), (1, 10, 4)]
    _send(mx, ":BIAS ALL,OFF", ":AGND:UNUS 1,'5,6'", ":AGND:CHAN:ENAB:CARD 1", ":AGND 1,ON")
    assert (1, 12, -5) in mx.conducting() and (1, 12, 2) not in mx.conducting()
    assert mx.errors.codes() == []


def test_binary_blocks_are_cut_out_before_decoding():
    text, blocks = extract_blocks(b":DATA1:DAC VOLATILE, #14\x00\n\xff\x01\n")
    assert text == b":DATA1:DAC VOLATILE, #BLOCK0\n" and blocks == [b"\x00\n\xff\x01"]
    with pytest.raises(SCPIError):
        extract_blocks(b":DATA1:DAC VOLATILE, #18\x00\x01")


def test_the_declared_table_reads_like_the_manual():
    rows = Keithley2450Sim._table.commands
    assert any(c.pattern == ":OUTPut[1]:VOLTage:SMODe" for c in rows)
    from labbench.sim.props import PropTable
    lines = PropTable(list(Keithley2450Sim.PROPS)).describe()
    assert any(":SOURce[1]:VOLTage:ILIMit[:LEVel]" in ln and "*RST 0.000105" in ln for ln in lines)


def test_pyvisa_session_through_the_declared_instruments():
    w = SimWorld()
    w.add("keithley2450", "smu", "USB0::0x05E6::0x2450::04512345::INSTR")
    rm = pyvisa.ResourceManager(LabbenchVisaLibrary.for_world(w))
    r = rm.open_resource("USB0::0x05E6::0x2450::04512345::INSTR", read_termination="\n", write_termination="\n")
    t0 = w.clock.now()
    assert r.query(":SENS:CURR:NPLC 0.5;NPLC?") == "5.000000000E-01"
    # one write and one read on USB-TMC: two transactions of latency, no integration
    from labbench.sim.transport import TRANSPORTS
    assert w.transactions == 2
    assert w.clock.now() - t0 == pytest.approx(2 * TRANSPORTS["USB"].latency, rel=0.01)
    r.close()
    w.unregister()
    assert np.isfinite(w.transport_time)


def test_81160a_width_limits_only_the_pulse_function():
    """FREQ 5e8 in sine mode is the sine's range; the held pulse width (100 ns) does not
    refuse it.  Back in pulse mode the pulse keeps its duty cycle."""
    pg = SimWorld().add("keysight81160a", "pg", "GPIB0::10::INSTR")
    _send(pg, ":FUNC1 SIN", ":FREQ1 5e8")
    assert pg.errors.codes() == [] and float(_query(pg, ":FREQ1?")) == 5e8
    _send(pg, ":FREQ1 1e6", ":FUNC1 PULS")
    width, period = float(_query(pg, ":PULS:WIDT1?")), float(_query(pg, ":PULS:PER1?"))
    assert width < period and pg.errors.codes() == []


def test_81160a_function_pulse_headers_and_apply_pulse_adjust_a_width_that_does_not_fit():
    pg = SimWorld().add("keysight81160a", "pg", "GPIB0::10::INSTR")
    _send(pg, ":FUNC1:PULS:HOLD WIDT", ":FUNC1:PULS:WIDT 4e-7", ":FUNC1:PULS:DCYC 20")
    assert _query(pg, ":FUNC1:PULS:HOLD?") == "WIDT" and float(_query(pg, ":PULS:DCYC1?")) == pytest.approx(20)
    assert pg.errors.codes() == []
    _send(pg, ":APPL1:PULS 1e7, 1, 0")              # 100 ns period: the 200 ns width cannot stay
    w, p = float(_query(pg, ":PULS:WIDT1?")), float(_query(pg, ":PULS:PER1?"))
    assert pg.errors.codes() == [] and p == pytest.approx(1e-7) and w == pytest.approx(0.2 * p)


def test_81160a_a_low_load_brings_the_levels_inside_its_window():
    pg = SimWorld().add("keysight81160a", "pg", "GPIB0::10::INSTR")
    _send(pg, ":VOLT1:HIGH 2", ":VOLT1:LOW 0", ":OUTP1:LOAD 0.3")
    assert pg.errors.codes() == [] and float(_query(pg, ":OUTP1:LOAD?")) == 0.3
    w = 10.0 * 0.3 / 50.3
    assert float(_query(pg, ":VOLT1:HIGH?")) == pytest.approx(w) and float(_query(pg, ":VOLT1:LOW?")) <= w


def test_2450_display_light_state():
    smu = SimWorld().add("keithley2450", "smu", "GPIB0::24::INSTR")
    _send(smu, ":DISP:LIGH:STAT ON25")
    assert _query(smu, ":DISP:LIGH:STAT?") == "ON25" and smu.errors.codes() == []
