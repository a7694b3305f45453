"""Unchanged PyMeasure and QCoDeS drivers against the simulated instruments and chip."""
import itertools
import warnings

import numpy as np
from labbench.physics import circuit
import pytest

from labbench.instruments.config import BenchConfig
from labbench.physics.chip import Chip
from labbench.physics.models import SET

SMALL = {
    "name": "small",
    "chip": {"device_model": "hfox_2t2r_default", "rows": 4, "cols": 4, "seed": 7},
    "instruments": {
        "smu": {"role": "source_meter", "driver": "pymeasure.keithley2450", "address": "GPIB0::24::INSTR"},
        "pg": {"role": "pulse_generator", "driver": "pymeasure.keysight81160a", "address": "GPIB0::10::INSTR",
               "output_load": {"ch1": "high_z", "ch2": "high_z"}},
        "matrix": {"role": "switch_matrix", "driver": "qcodes.keysight_b220x", "address": "GPIB0::22::INSTR"},
    },
    # one module: QCoDeS's driver (card 0) reaches every line
    "wiring": {"matrix": "matrix", "inputs": {1: "smu.hi", 3: "pg.ch1", 5: "pg.ch2", 14: "ground"},
               "lines": {"WL": {"card": 1, "first_output": 1}, "BL": {"card": 1, "first_output": 11},
                         "BLB": {"card": 1, "first_output": 21}, "SL": {"card": 1, "output": 48}}},
    "limits": {"smu.hi": {"max_voltage": 3.5, "max_compliance": 1e-3},
               "pg.ch1": {"max_voltage": 3.0, "max_pulse_width": 1e-3},
               "pg.ch2": {"max_voltage": 3.0, "max_pulse_width": 1e-3}},
}
_names = itertools.count()


@pytest.fixture
def world():
    w = BenchConfig.model_validate(SMALL).build_world()
    key = w.register()
    yield w, f"{key}@labbench"
    w.unregister()


@pytest.fixture
def matrix(world):
    from qcodes.instrument_drivers.Keysight import KeysightB220X

    w, lib = world
    m = KeysightB220X(f"mx{next(_names)}", "GPIB0::22::INSTR", visalib=lib)
    yield m
    m.close()


def _route_read(m, row, col):
    # SMU (input 1) on BL<col>, gate (input 5) on WL<row>, ground (14) on SL
    m.connect_paths([(1, 11 + col), (5, 1 + row), (14, 48)])


def _gate_dc(pg, level):
    ch2 = pg.channels[2]
    ch2.shape = "DC"
    ch2.offset = level
    ch2.output = True


def _expected_current(chip, idx, v, gate=2 * 1.8):
    # through the read transistor; the gate is _gate_dc's 1.8 V programmed for the
    # 81160A's default 50 ohm load: the high-impedance word line gets twice that
    return np.array([circuit.as_read(chip.model, chip.g[idx], x, gate) * x if x else 0.0
                     for x in np.atleast_1d(v)]).reshape(np.shape(v))


def test_pymeasure_2450_reads_a_cell_of_known_conductance(world, matrix):
    from pymeasure.instruments.keithley import Keithley2450
    from pymeasure.instruments.keysight import Keysight81160A

    w, lib = world
    idx = w.chip.flat(2, 1, 0)
    w.chip.g[idx] = 1.5e-5
    smu = Keithley2450("GPIB0::24::INSTR", visa_library=lib)
    pg = Keysight81160A("GPIB0::10::INSTR", visa_library=lib)
    _route_read(matrix, 2, 1)
    _gate_dc(pg, 1.8)
    smu.apply_voltage(compliance_current=1e-4)
    smu.measure_current(nplc=0.1)
    smu.source_voltage = 0.2
    smu.enable_source()
    i = smu.current
    assert i == pytest.approx(_expected_current(w.chip, idx, 0.2), rel=0.05)
    # compliance clips, as on the instrument
    smu.compliance_current = 1e-6
    assert abs(smu.current) <= 1e-6 * (1 + 1e-9) + 300e-12   # plus the 1 µA range's offset (2450: 300 pA)
    assert smu.check_errors() == []
    # instrument time: NPLC/line frequency per reading, the source delay after the level
    # changed, and the VISA transactions on the GPIB bus
    from labbench.sim.keithley2450 import AUTO_SOURCE_DELAY
    assert w.clock.now() - w.transport_time == pytest.approx(2 * 0.1 / 50 + AUTO_SOURCE_DELAY)


def test_qcodes_2450_reads_and_sweeps(world, matrix):
    from qcodes.instrument_drivers.Keithley import Keithley2450
    from pymeasure.instruments.keysight import Keysight81160A

    w, lib = world
    idx = w.chip.flat(0, 3, 0)
    w.chip.g[idx] = 2.0e-5
    pg = Keysight81160A("GPIB0::10::INSTR", visa_library=lib)
    _gate_dc(pg, 1.8)
    _route_read(matrix, 0, 3)
    k = Keithley2450(f"k{next(_names)}", "GPIB0::24::INSTR", visalib=lib)
    try:
        k.source_function("voltage")
        k.sense_function("current")
        k.source.limit(1e-4)
        k.output_enabled(True)
        k.source.voltage(0.1)
        assert k.sense.current() == pytest.approx(_expected_current(w.chip, idx, 0.1), rel=0.05)
        k.source.sweep_setup(0.0, 0.3, 7)
        sweep = k.sense.sweep()
        expected = _expected_current(w.chip, idx, np.linspace(0, 0.3, 7))
        assert np.allclose(sweep, expected, rtol=0.05, atol=1e-9)
        assert k.ask(":SYST:ERR?").startswith("0,")
    finally:
        k.close()


def test_burst_of_set_pulses_changes_g_as_the_model_says(world, matrix):
    from pymeasure.instruments.keysight import Keysight81160A
    from labbench.instruments.drivers import _burst_state_arg

    w, lib = world
    twin = Chip(w.chip.model, 4, 4, seed=7)
    pg = Keysight81160A("GPIB0::10::INSTR", visa_library=lib)
    pg.write(":OUTP1:LOAD INF;:OUTP2:LOAD INF")    # high impedance, as a bench file declares: level = cell voltage
    matrix.connect_paths([(3, 11 + 2), (5, 1 + 1), (14, 48)])  # pulse on BL2, gate WL1, SL ground
    _gate_dc(pg, 1.2)
    ch = pg.channels[1]
    ch.shape = "PULS"
    ch.pulse_period = 2e-6
    ch.pulse_width = 1e-6
    ch.voltage_high = 1.5
    ch.voltage_low = 0.0
    ch.burst_ncycles = 10
    ch.burst_state = _burst_state_arg(True)
    ch.trigger_mode = "MAN"
    ch.output = True
    idx = w.chip.flat(1, 2, 0)
    for _ in range(3):
        g_before = w.chip.g[idx]
        pg.trigger()
        twin.pulse(idx, 10, SET, amplitude=1.5, width=1e-6, gate=1.2)
        assert w.chip.g[idx] > g_before
        assert w.chip.g[idx] == twin.g[idx]
    assert np.array_equal(w.chip.g, twin.g)  # no other device was touched
    assert w.clock.now() - w.transport_time == pytest.approx(3 * 10 * 2e-6)
    assert pg.check_errors() == []


def test_gate_off_or_floating_lines_do_nothing(world, matrix):
    from pymeasure.instruments.keysight import Keysight81160A

    w, lib = world
    before = w.chip.g.copy()
    pg = Keysight81160A("GPIB0::10::INSTR", visa_library=lib)
    matrix.connect_paths([(3, 11), (14, 48)])  # WL floating: gate off
    ch = pg.channels[1]
    ch.shape = "PULS"
    ch.voltage_high = 2.0
    ch.voltage_low = 0.0
    ch.trigger_mode = "MAN"
    ch.output = True
    pg.trigger()
    assert np.array_equal(w.chip.g, before)


def test_error_queue_fills_and_clears_through_the_driver(world):
    from pymeasure.instruments.keithley import Keithley2450

    _, lib = world
    smu = Keithley2450("GPIB0::24::INSTR", visa_library=lib)
    smu.write(":SOUR:VOLT 1e6")
    smu.write(":NOT:A:COMMAND")
    smu.write(":TRAC:FEED:CONT NEXT")  # 2400-emulation only: undefined on a native 2450
    errs = smu.check_errors()
    assert [int(e[0]) for e in errs] == [-222, -113, -113]
    assert smu.check_errors() == []
    for _ in range(12):
        smu.write(":BAD")
    assert int(smu.ask(":SYST:ERR:COUN?")) == 10
    smu.clear()  # *CLS
    assert int(smu.ask(":SYST:ERR:COUN?")) == 0


def test_qcodes_b220x_parameters_round_trip(matrix):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # QCoDeS warns when *ESR? shows an error
        matrix.connection_rule("free")
        matrix.connect(1, 5)
        matrix.connect_paths([(3, 7), (4, 9)])
        assert matrix.connections() == {(1, 5), (3, 7), (4, 9)}
        matrix.connection_sequence("mbb")
        assert matrix.connection_sequence() == "mbb"
        matrix.bias_input_port(10)
        matrix.bias_mode(True)
        assert matrix.bias_input_port() == 10 and matrix.bias_mode() is True
        matrix.unused_inputs([3, 5])
        assert matrix.unused_inputs() == [3, 5]
        matrix.disconnect_all()
        assert matrix.connections() == set()
    matrix.write(":CLOS (@01599)")  # output 99 does not exist
    assert matrix.get_error().startswith("-222")


def test_ground_mode_grounds_unused_outputs(world, matrix):
    """B2200 ground mode: enabled outputs with no closed relay go to the ground port."""
    from pymeasure.instruments.keithley import Keithley2450
    from pymeasure.instruments.keysight import Keysight81160A

    w, lib = world
    smu = Keithley2450("GPIB0::24::INSTR", visa_library=lib)
    _gate_dc(Keysight81160A("GPIB0::10::INSTR", visa_library=lib), 1.8)
    smu.apply_voltage(compliance_current=1e-4)
    smu.source_voltage = 0.1
    smu.enable_source()
    matrix.connect_paths([(1, 11), (5, 1)])  # SMU on BL0, gate on WL0, SL left open
    floor = 50e-12                          # 2450 datasheet, 10 nA range offset: a reading of nothing
    assert 0 < abs(smu.current) <= floor    # floating SL: no path, no current, the meter's floor
    matrix.gnd_input_port(14)
    matrix.gnd_enable_output(48)
    matrix.gnd_mode(True)
    assert smu.current > 1e-7               # SL now grounded through the ground unit
    matrix.gnd_mode(False)
    assert abs(smu.current) <= floor
