"""SCPI grammar and the error queue of the simulated instruments, through PyVISA."""
import pytest
import pyvisa
from hypothesis import given, settings
from hypothesis import strategies as st

from labbench.sim import LabbenchVisaLibrary, SimWorld
from labbench.sim.scpi import ErrorQueue, SCPIError, compile_header, parse_unit


@pytest.fixture
def smu():
    w = SimWorld()
    w.add("keithley2450", "smu", "GPIB0::24::INSTR")
    rm = pyvisa.ResourceManager(LabbenchVisaLibrary.for_world(w))
    r = rm.open_resource("GPIB0::24::INSTR", read_termination="\n", write_termination="\n")
    yield r
    r.close()
    w.unregister()


def test_header_long_short_optional_and_suffix():
    rx = compile_header(":SOURce#:VOLTage[:LEVel][:IMMediate]")
    for h in (":SOUR:VOLT", ":SOURCE:VOLTAGE:LEVEL", ":SOUR2:VOLT:IMM", ":SOURCE:VOLT:LEV:IMM"):
        assert rx.match(h), h
    for h in (":SOURC:VOLT", ":SOUR:VOLTA", ":SOUR:LEV", ":SOUR:VOLT:IMM:LEV"):
        assert not rx.match(h), h
    assert rx.match(":SOUR2:VOLT").group(1) == "2"


def test_relative_path_after_semicolon():
    header, q, params, path = parse_unit(":SOUR:VOLT:ILIM 1e-3", [])
    assert header == ":SOUR:VOLT:ILIM" and params == ["1e-3"] and path == ["SOUR", "VOLT"]
    header, q, params, _ = parse_unit("LEV?", path)
    assert header == ":SOUR:VOLT:LEV" and q


def test_case_insensitive_and_compound(smu):
    assert smu.query(":sour:volt 0.5;:SOURce:VOLTage:LEVel?") == "5.000000000E-01"
    assert smu.query(":SOUR:VOLT:LEV 0.25;LEV?") == "2.500000000E-01"  # relative path
    assert smu.query("*idn?").startswith("KEITHLEY INSTRUMENTS,MODEL 2450")
    assert smu.query("*IDN?;*OPC?").endswith(";1")


@pytest.mark.parametrize("message, code", [
    (":NOSUCH:HEADER 1", -113),
    (":SOUR:VOLT 500", -222),
    (":SOUR:VOLT banana", -104),
    (":SOUR:VOLT", -109),
    (":OUTP ON, OFF", -108),
    (":SOUR:FUNC WATTS", -224),
    (":SENS:FUNC 'CURR", -102),
    ("*IDN? 3", -108),
    ("*IDN 3", -113),
])
def test_bad_input_goes_to_the_error_queue(smu, message, code):
    smu.write(message)
    assert smu.query(":SYST:ERR:COUN?") == "1"
    err = smu.query(":SYST:ERR?")
    assert err.startswith(f"{code},"), err
    assert smu.query(":SYST:ERR?") == '0,"No error"'


def test_queue_overflow_and_clear(smu):
    for _ in range(15):
        smu.write(":BAD")
    assert smu.query(":SYST:ERR:COUN?") == "10"
    entries = [smu.query(":SYST:ERR?") for _ in range(10)]
    assert entries[0].startswith("-113") and entries[-1].startswith("-350")
    smu.write(":BAD")
    assert int(smu.query("*ESR?")) & 32  # command error bit
    smu.write("*CLS")
    assert smu.query(":SYST:ERR:COUN?") == "0"


def test_unterminated_and_interrupted_queries_fail_fast(smu):
    with pytest.raises(pyvisa.errors.VisaIOError):
        smu.read()  # nothing pending: a timeout at once, not a hang
    assert smu.query(":SYST:ERR?").startswith("-420")
    smu.write("*IDN?")
    smu.write(":SOUR:VOLT 0.1")  # the unread response is discarded
    assert smu.query(":SYST:ERR?").startswith("-410")


def test_error_queue_unit():
    q = ErrorQueue(2)
    q.push(SCPIError(-113))
    q.push(SCPIError(-222))
    q.push(SCPIError(-104))
    assert q.codes() == [-113, -350]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=60))
def test_arbitrary_bytes_never_raise(data):
    w = SimWorld()
    inst = w.add("keithley2450", "smu", "GPIB0::24::INSTR")
    inst.write(data)
    inst.write(b"*IDN?\n")
    assert inst.read().startswith(b"KEITHLEY")


_TOKENS = [":SOUR", ":VOLT", ":CURR", ":ILIM", ":SENS", ":FUNC", ":NPLC", ":OUTP", ":READ?", ":MEAS?",
           ":TRAC:DATA?", ":PULS:WIDT1", ":VOLT2:HIGH", ":BURS1:NCYC", ":ARM:SOUR1", ":CLOS", ":OPEN:CARD",
           ":CONN:RULE", "*IDN?", "*RST", "*TRG", "*OPC?", ":SYST:ERR?", "LEV", "?", ";", ":", " ", ",",
           "1", "-5", "1e99", "MAX", "DEF", "ON", "'defbuffer1'", "\"CURR", "(@10101)", "(@1", "0,SROU", "\t"]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["keithley2450", "keithley2600b", "keysight81160a", "keysight_b220x"]),
       st.lists(st.lists(st.sampled_from(_TOKENS), max_size=8).map("".join), max_size=5))
def test_scpi_like_garbage_never_raises_on_any_instrument(model, messages):
    """Token soup: whatever it is, the instrument answers with queue entries in the SCPI
    form (a negative code from the error list, quoted text), overflow is -350, and the
    instrument still identifies itself."""
    w = SimWorld()
    inst = w.add(model, "x", "GPIB0::5::INSTR")
    pushed = 0
    for m in messages:
        before = len(inst.errors)
        inst.write(m.encode() + b"\n")
        pushed += max(0, len(inst.errors) - before)
    entries = []
    while len(inst.errors):
        entries.append(inst.errors.pop())
    for e in entries:
        code, _, text = e.partition(",")
        assert int(code) < 0 and text.startswith('"') and text.endswith('"'), e
    if pushed >= 10:
        assert len(entries) == 10
    inst.clear()
    inst.write(b"*IDN?\n")
    assert inst.read().count(b",") == 3


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["keithley2450", "keysight81160a", "keysight_b220x"]),
       st.lists(st.sampled_from(_TOKENS), max_size=8).map("".join))
def test_each_garbage_message_queues_an_error(model, tail):
    """A message that cannot be a command (an undefined header in front of anything) queues
    an error every time, in the SCPI form; nothing else changes."""
    import re

    inst = SimWorld().add(model, "x", "GPIB0::5::INSTR")
    inst.write(f":NOSUCH{tail}\n".encode())
    reply = inst.read() or b""          # the tail may itself read the queue (:SYST:ERR?)
    entries = re.findall(r'-\d+,"[^"]*"', reply.decode("ascii", "replace"))
    while len(inst.errors):
        entries.append(inst.errors.pop())
    assert entries and all(int(e.split(",")[0]) < 0 for e in entries), (entries, reply)


def test_min_max_def_numeric_keywords(smu):
    assert float(smu.query(":SENS:CURR:NPLC MAX;NPLC?")) == 10.0
    assert float(smu.query(":SENS:CURR:NPLC minimum;NPLC?")) == 0.01
    assert float(smu.query(":SENS:CURR:NPLC DEF;NPLC?")) == 1.0
    assert float(smu.query(":SOUR:VOLT:ILIM MIN;:SOUR:VOLT:ILIM?")) == 1e-9
    assert smu.query(":SYST:ERR:NEXT?") == '0,"No error"'
