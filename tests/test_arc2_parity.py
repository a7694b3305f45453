"""The twin against the installed pyarc2: every public name and signature of
``pyarc2.Instrument`` exists on the twin; what pyarc2's own docs (its .pyi stub and
docstrings) name but pyarc2 does not have is refused by the twin the same way; the
argument errors pyarc2 raises before reaching the board are the twin's."""
import inspect
import re
from importlib import resources

import numpy as np
import pytest

from labbench.sim import arc2 as twin

pyarc2 = pytest.importorskip("pyarc2")

ENUMS = ["BiasOrder", "ControlMode", "DataMode", "ReadType", "AuxDACFn", "LogicLevel", "OutputRange", "IODir",
         "ReadAt", "ReadAfter", "WaitFor"]


def public(cls):
    return sorted(n for n in dir(cls) if not n.startswith("_"))


def shape(fn):
    """(name, kind, default) of each parameter after self; annotations and self's
    positional-only marker (a PyO3 method's ``self, /``) left out."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    return [(p.name, p.kind, p.default) for p in params]


def test_the_installed_version_is_the_one_the_twin_follows():
    assert pyarc2.LIBARC2_VERSION == twin.LIBARC2_VERSION


def test_every_public_instrument_name_exists_on_the_twin_and_no_other():
    assert public(twin.Instrument) == public(pyarc2.Instrument)


@pytest.mark.parametrize("name", public(pyarc2.Instrument))
def test_same_signature(name):
    assert shape(getattr(twin.Instrument, name)) == shape(getattr(pyarc2.Instrument, name)), name


def test_constructor_signature():
    assert shape(twin.Instrument.__init__) == shape(pyarc2.Instrument.__init__)


def test_module_names():
    for name in ENUMS + ["Instrument", "ArC2Error", "IdleMode", "ArC2Config", "find_ids", "LIBARC2_VERSION"]:
        assert hasattr(twin, name), name
    for name in ENUMS + ["IdleMode"]:
        assert public(getattr(twin, name)) == public(getattr(pyarc2, name)), name
    assert [m.name for m in twin.IdleMode] == [m.name for m in pyarc2.IdleMode]
    assert [m.value for m in twin.IdleMode] == [m.value for m in pyarc2.IdleMode]
    assert issubclass(twin.ArC2Error, Exception) and twin.ArC2Error.__module__ == pyarc2.ArC2Error.__module__


@pytest.mark.parametrize("name", ["BiasOrder", "DataMode", "OutputRange", "AuxDACFn", "ReadAt", "ReadAfter"])
def test_enums_have_no_constructor_and_compare_by_variant(name):
    for lib in (twin, pyarc2):
        cls = getattr(lib, name)
        with pytest.raises(TypeError, match="No constructor"):
            cls()
    real, tw = getattr(pyarc2, name), getattr(twin, name)
    names = [n for n in public(real) if isinstance(getattr(real, n), real)]
    for a in names:
        for b in names:
            assert (getattr(tw, a) == getattr(tw, b)) == (getattr(real, a) == getattr(real, b))
        assert str(getattr(tw, a)) == str(getattr(real, a)) or "object at" in repr(getattr(real, a))


def test_small_types_behave_alike():
    for lib in (twin, pyarc2):
        assert str(lib.ReadAfter.from_str("pulse")) == "pulse"
        assert lib.ReadAfter.from_str("pulse") != lib.ReadAfter.Pulse   # a new object, equal to itself only
        assert lib.ReadAfter.Pulse == lib.ReadAfter.Pulse
        assert repr(lib.ReadAfter.Block) == "ReadAfter<Block>"
        with pytest.raises(ValueError, match="Unknown ReadAfter"):
            lib.ReadAfter.from_str("Pulse")
        assert lib.ReadAt.Arb(0.2).voltage() == float(np.float32(0.2))
        assert lib.ReadAt.Arb(0.2) != lib.ReadAt.Arb(0.2) and lib.ReadAt.Bias == lib.ReadAt.Bias   # identity
        with pytest.raises(Exception, match="No voltage associated"):
            lib.ReadAt.Bias.voltage()
        with pytest.raises(TypeError):
            lib.ReadAt.Arb("0.2")
        with pytest.raises(OverflowError):
            lib.WaitFor.Millis(-1)
        assert str(lib.OutputRange.EXT) == "OutputRange.EXT"
        assert lib.find_ids() == [] or lib is twin


def test_no_board_is_an_arc2error_naming_the_id():
    for lib in (twin, pyarc2):
        with pytest.raises(lib.ArC2Error, match="Invalid ArC2 device id: 7"):
            lib.Instrument(7, "/nonexistent/fw.bin")
        with pytest.raises(TypeError, match="argument 'id'"):
            lib.Instrument("0", "fw.bin")


BAD_ARRAYS = [[[1, 2]], 5, "abc", [-1], [1.5], None, np.array([1, 2], dtype=np.uint64), (3, 4), [2**64]]


@pytest.mark.parametrize("arg", BAD_ARRAYS, ids=repr)
def test_channel_arrays_are_checked_as_pyarc2_checks_them(arg):
    """pyarc2's Python layer (``_ndarray_check``) shapes every channel array before the
    compiled call: same result or same exception (type and message) in the twin."""
    def outcome(fn):
        try:
            r = fn(arg)
            return ("ok", None if r is None else (r.dtype, r.tolist()))
        except Exception as e:  # noqa: BLE001 - the comparison is the test
            return (type(e), str(e))
    assert outcome(twin.convert.ndarray_check) == outcome(pyarc2._ndarray_check)


def _stub_members():
    """Names pyarc2's type stub (its documented API) gives the instrument and the enums."""
    text = (resources.files("pyarc2") / "pyarc2.pyi").read_text()
    blocks = re.split(r"^class ", text, flags=re.M)[1:]
    out = {}
    for b in blocks:
        name = b.split("(")[0].split(":")[0].strip()
        out[name] = {m: sig for m, sig in re.findall(r"def (\w+)\(self(?:, )?([^)]*)\)", b, flags=re.S)}
        out[name].update({m: None for m in re.findall(r"^\s+(\w+): ClassVar", b, flags=re.M)})
    return out


STUB = _stub_members()


def test_the_stub_is_what_the_docs_say():
    assert "InstrumentLL" in STUB and "read_one" in STUB["InstrumentLL"]


@pytest.mark.parametrize("method", sorted(STUB["InstrumentLL"]))
def test_stub_methods_the_same_on_both(method):
    """A method the stub documents exists on both or on neither (AttributeError alike)."""
    assert hasattr(twin.Instrument, method) == hasattr(pyarc2.Instrument, method), method


@pytest.mark.parametrize("method", sorted(m for m, s in STUB["InstrumentLL"].items() if s))
def test_stub_parameter_names_pyarc2_does_not_take_are_refused_alike(method):
    """The stub names some parameters differently from the compiled methods (pulse_all's
    ``vpulse`` is ``voltage``, config_aux_channels' ``input`` is ``voltages``): a keyword
    call by the stub's name is a TypeError on both; by pyarc2's own name it binds on both."""
    if not hasattr(pyarc2.Instrument, method):
        return
    stub_names = [p.split(":")[0].split("=")[0].strip() for p in STUB["InstrumentLL"][method].split(",")
                  if p.strip() and p.strip() not in ("/", "*")]
    real = inspect.signature(getattr(pyarc2.Instrument, method))
    tw = inspect.signature(getattr(twin.Instrument, method))
    for n in stub_names:
        accepted_real = n in real.parameters
        accepted_twin = n in tw.parameters
        assert accepted_real == accepted_twin, (method, n)


@pytest.mark.parametrize("enum", [e for e in ENUMS if e in STUB])
def test_stub_enum_variants_the_same_on_both(enum):
    for v in STUB[enum]:
        assert hasattr(getattr(twin, enum), v) == hasattr(getattr(pyarc2, enum), v), (enum, v)


def test_names_only_the_docstrings_mention_fail_alike():
    """get_iter's example uses IdleMode.Gnd and chains .wait() on finalise_operation:
    neither exists (finalise_operation returns None), in pyarc2 as in the twin."""
    for lib in (twin, pyarc2):
        with pytest.raises(AttributeError, match="Gnd"):
            getattr(lib.IdleMode, "Gnd")
        assert "IdleMode.Gnd" in lib.Instrument.get_iter.__doc__ or lib is twin
    src = inspect.getsource(pyarc2.Instrument.finalise_operation)
    assert "return" not in src.split('"""')[-1]        # pyarc2's returns None: nothing to chain
    assert "return" not in inspect.getsource(twin.Instrument.finalise_operation).split('"""')[-1]
