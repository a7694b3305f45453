"""The source-meter adapters' shared cache (labbench.instruments.level_cache): on every SMU
adapter, a level or output state the instrument already holds costs no VISA transaction,
``off()`` never trusts the cache, and what may change the instrument behind the cache's
back (a current-source setup, a TSP script) makes the next write go out."""
from __future__ import annotations

import pytest

from labbench.instruments.drivers import DRIVERS
from labbench.instruments.level_cache import LevelCache
from labbench.sim import SimWorld

SMUS = [name for name, info in DRIVERS.items() if info.role == "source_meter"]
pytestmark = pytest.mark.filterwarnings("ignore:It is not known whether this device support")


def test_every_smu_adapter_uses_the_one_cache():
    assert set(SMUS) == {"pymeasure.keithley2450", "qcodes.keithley2450", "pymeasure.keithley2600b",
                         "qcodes.keithley2600b"}
    for name in SMUS:
        assert issubclass(DRIVERS[name].factory, LevelCache), name


@pytest.fixture(params=SMUS)
def adapter(request):
    info = DRIVERS[request.param]
    w = SimWorld()
    w.add(info.sim_model, "smu", "GPIB0::24::INSTR")
    key = w.register()
    a = info.factory("smu", "GPIB0::24::INSTR", f"{key}@labbench")
    a.configure(1e-3, 1.0)
    yield w, a
    a.close()
    w.unregister()


def _writes(w, fn) -> int:
    n = w.transactions
    fn()
    return w.transactions - n


def test_a_held_level_or_state_is_not_sent_again(adapter):
    w, a = adapter
    assert a.biased()                                  # unknown: maybe live
    assert _writes(w, lambda: a.set_voltage(0.5)) > 0
    assert _writes(w, lambda: a.set_voltage(0.5)) == 0
    assert _writes(w, lambda: a.output(True)) > 0
    assert _writes(w, lambda: a.output(True)) == 0
    assert a.biased()
    assert _writes(w, lambda: a.set_voltage(0.0)) > 0
    assert not a.biased()                              # on at 0 V
    a.set_voltage(0.5)
    a.output(False)
    assert not a.biased()


def test_off_never_trusts_the_cache_and_forgets_it(adapter):
    w, a = adapter
    a.set_voltage(0.0)
    a.output(False)
    assert _writes(w, a.off) > 0                       # written although the cache says off at 0 V
    assert a.biased()                                  # unknown again
    assert _writes(w, lambda: a.set_voltage(0.0)) > 0
    assert _writes(w, lambda: a.output(False)) > 0


def test_what_changes_the_instrument_behind_the_cache_makes_the_next_write_go_out(adapter):
    w, a = adapter
    a.set_voltage(0.5)
    a.output(True)
    if hasattr(a, "tsp_write"):
        a.tsp_write("smua.source.levelv = 0")
        assert (a._v, a._on) == (None, None)
    if hasattr(a, "source_current"):
        on = a._on
        a.source_current(1e-6, 1.0)
        assert a._v is None
        assert a._on is (None if "2450" in type(a).__name__ else on)  # the 2450 switches its output off
    if hasattr(a, "tsp_write") or hasattr(a, "source_current"):
        assert _writes(w, lambda: a.set_voltage(0.5)) > 0
