"""Every registered adapter satisfies the Protocol of its role (labbench.instruments.protocols).

``isinstance``/``issubclass`` with a runtime-checkable Protocol only look at method
names; these tests compare the parameter names (order, kind, defaults) too, so removing
or renaming a method, or renaming one of its parameters, fails here.
"""
from __future__ import annotations

import ast
import inspect

import pytest

from labbench.instruments import bench as bench_module
from labbench.instruments import roles as roles_module
from labbench.instruments.drivers import DRIVERS
from labbench.instruments.protocols import (
    PROTOCOLS,
    AdapterFactory,
    PulseGeneratorAdapter,
    SourceMeterAdapter,
    SwitchMatrixAdapter,
    adapter_mismatches,
    protocol_methods,
)


def test_every_role_has_a_protocol_and_an_adapter():
    assert set(PROTOCOLS) == {"source_meter", "pulse_generator", "switch_matrix", "temperature_controller",
                              "array_tester"}
    assert {info.role for info in DRIVERS.values()} == set(PROTOCOLS)


def test_protocols_declare_the_documented_calls():
    assert set(protocol_methods(SourceMeterAdapter)) == {
        "idn", "configure", "set_voltage", "output", "measure_current", "biased", "off",
        "settings", "errors", "close"}
    assert set(protocol_methods(PulseGeneratorAdapter)) == {
        "idn", "configure_pulse", "set_count", "set_load", "load", "set_dc", "output", "trigger", "off",
        "settings", "errors", "close"}
    assert set(protocol_methods(SwitchMatrixAdapter)) == {
        "idn", "configure", "set_paths", "closed_paths", "open_all", "connections",
        "settings", "errors", "close"}


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_adapter_satisfies_its_role_protocol(driver):
    info = DRIVERS[driver]
    protocol = PROTOCOLS[info.role]
    cls = info.factory
    assert inspect.isclass(cls), f"{driver}: the factory should be the adapter class"
    assert adapter_mismatches(cls, protocol) == []
    assert issubclass(cls, protocol)  # names only; the line above checks the signatures


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_adapter_is_built_the_way_the_bench_builds_it(driver):
    """Bench._open calls ``factory(name, address, visa_library)`` (an array tester has no VISA
    address: Arc2Bench builds it from its bench-file entry and channel map)."""
    if DRIVERS[driver].role == "array_tester":
        got = [p.name for p in inspect.signature(DRIVERS[driver].factory).parameters.values()]
        assert got == ["name", "inst", "lines", "lib", "range_volts", "attach"]
        return
    want = [p.name for p in list(inspect.signature(AdapterFactory.__call__).parameters.values())[1:]]
    got = [p.name for p in inspect.signature(DRIVERS[driver].factory).parameters.values()]
    assert got == want


def _without(cls, name):
    return type(f"{cls.__name__}Without_{name}", (),
                {k: v for k, v in vars(cls).items() if k != name and k not in ("__dict__", "__weakref__")})


@pytest.mark.parametrize("driver", sorted(DRIVERS))
def test_the_check_catches_a_removed_or_renamed_method(driver):
    info = DRIVERS[driver]
    protocol = PROTOCOLS[info.role]
    cls = info.factory
    for name in protocol_methods(protocol):
        broken = _without(cls, name)
        assert any(f".{name}: missing" in p for p in adapter_mismatches(broken, protocol)), name
        renamed = type("Renamed", (broken,), {name + "_v2": vars(cls)[name]})
        assert adapter_mismatches(renamed, protocol), name


def test_the_check_catches_a_renamed_or_dropped_parameter():
    from labbench.instruments.drivers import PyMeasureKeysight81160A as PG

    class RenamedParam(PG):
        def configure_pulse(self, ch, amplitude, width, period, low=0.0):  # high -> amplitude
            pass

    class DroppedDefault(PG):
        def configure_pulse(self, ch, high, width, period, low):
            pass

    class ExtraParam(PG):
        def set_count(self, ch, n, extra):
            pass

    for cls in (RenamedParam, DroppedDefault, ExtraParam):
        problems = adapter_mismatches(cls, PulseGeneratorAdapter)
        assert len(problems) == 1, (cls.__name__, problems)
        assert issubclass(cls, PulseGeneratorAdapter)  # why a names-only check is not enough


def _adapter_calls(tree: ast.AST, owner: str) -> set[str]:
    """Names X in ``<...>.{owner}.X`` attribute chains (``self.adapter.X``, ...)."""
    out = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and node.value.attr == owner):
            out.add(node.attr)
    return out


@pytest.mark.parametrize("role_class, protocol", [
    ("SourceMeter", SourceMeterAdapter),
    ("PulseGenerator", PulseGeneratorAdapter),
    ("SwitchMatrix", SwitchMatrixAdapter),
])
def test_roles_only_call_what_the_protocol_declares(role_class, protocol):
    tree = ast.parse(inspect.getsource(getattr(roles_module, role_class)))
    called = _adapter_calls(tree, "adapter")
    assert called, f"{role_class} calls no adapter method? (the scan is broken)"
    assert called <= set(protocol_methods(protocol)), called - set(protocol_methods(protocol))


def test_bench_only_calls_what_every_protocol_declares():
    """The Bench calls some adapter methods directly (snapshot, errors, close, biased);
    ``getattr(adapter, ...)`` hooks such as ``resource`` are optional and not scanned."""
    tree = ast.parse(inspect.getsource(bench_module))
    common = set.intersection(*(set(protocol_methods(p)) for p in PROTOCOLS.values()))
    direct = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "a"):
            direct.add(node.func.attr)  # ``for name, a in self.adapters.items(): a.X()``
    assert direct <= common, direct - common
    assert _adapter_calls(tree, "adapter") <= set(protocol_methods(SourceMeterAdapter))
