"""Bad inputs for `labbench measure`, `labbench runs` and `labbench bench` (see badcases.py)."""
from badcases import Case

from labbench.paths import BENCHES

SIM = (BENCHES / "sim.yaml").read_text()


def bench(**replace) -> str:
    """The shipped simulated bench file with text replacements."""
    text = SIM
    for old, new in replace.items():
        assert old.replace("__", " ") in text or old in text, old
        text = text.replace(old.replace("__", " "), new) if old.replace("__", " ") in text else text.replace(old, new)
    return text


def M(id, *params, expect, exit_codes=(2,), **kw):
    argv = ["measure", *params[:1]]
    for p in params[1:]:
        argv += ["-p", p]
    return Case(id, argv + ["--db", "{tmp}/d.db"], expect, exit_codes=exit_codes, **kw)


LIMITS = "smu.hi: {max_voltage: 3.5, max_compliance: 1.0e-3}"

CASES = [
    # procedure parameters (refused before anything is sent; no run in the dataset)
    M("cells-outside-chip", "pulse-train", "cells=0:40, 0:2", expect=r"row selection '0:40' is outside 0\.\.31",
      forbid=("{tmp}/d.db",)),
    M("cells-negative", "array-map", "cells=-1:2, 0:2", expect=r"outside 0\.\.31", forbid=("{tmp}/d.db",)),
    M("cells-reversed", "array-map", "cells=3:1, 0", expect=r"empty", forbid=("{tmp}/d.db",)),
    M("cells-one-part", "array-map", "cells=0:4", expect=r"ROWS, COLS", forbid=("{tmp}/d.db",)),
    M("cells-words", "array-map", "cells=a, b", expect=r"not a number or a span", forbid=("{tmp}/d.db",)),
    M("sides-x", "array-map", "sides=x", expect=r"sides must be made of", forbid=("{tmp}/d.db",)),
    M("forming-step-zero", "forming", "v_step=0", expect=r"v_step=0 V", forbid=("{tmp}/d.db",)),
    M("forming-step-negative", "forming", "v_step=-0.1", expect=r"v_step=-0\.1", forbid=("{tmp}/d.db",)),
    M("forming-start-nan", "forming", "v_start=nan", expect=r"v_start=nan is not a finite", forbid=("{tmp}/d.db",)),
    M("forming-tiny-step", "forming", "v_step=1e-9", expect=r"plan has .* rows", forbid=("{tmp}/d.db",)),
    M("iv-vmax-nan", "iv-sweep", "v_max=nan", expect=r"v_max=nan is not a finite", forbid=("{tmp}/d.db",)),
    M("iv-vmax-above-limit", "iv-sweep", "v_max=5", expect=r"plan sources up to 5 V.*max_voltage = 3\.5",
      forbid=("{tmp}/d.db",)),
    M("iv-vmin-above-limit", "iv-sweep", "v_min=-20", expect=r"-20 V", forbid=("{tmp}/d.db",)),
    M("iv-vmax-inf", "iv-sweep", "v_max=inf", expect=r"v_max='inf'.*maximum", forbid=("{tmp}/d.db",)),
    M("retention-negative", "retention", "duration=-1", expect=r"duration=-1 s", forbid=("{tmp}/d.db",)),
    M("retention-zero", "retention", "duration=0", expect=r"duration=0 s", forbid=("{tmp}/d.db",)),
    M("unknown-param", "pulse-train", "cyclez=2", expect=r"no parameter 'cyclez'.*cycles"),
    M("param-no-equals", "pulse-train", "cycles", expect=r"key=value"),
    M("param-not-int", "pulse-train", "cycles=many", expect=r"cycles"),
    Case("unknown-procedure", ["measure", "pulse-trian"], r"pulse-train", exit_codes=(2,)),
    # output locations, checked before the bench is opened
    Case("csv-missing-folder", ["measure", "array-map", "--csv", "{tmp}/no/such/out.csv", "--db", "{tmp}/d.db"],
         r"folder .*no/such does not exist", exit_codes=(1,), forbid=("{tmp}/d.db",)),
    Case("db-is-folder", ["measure", "array-map", "--db", "{tmp}"], r"is a (folder|directory)", exit_codes=(1, 2)),
    Case("db-missing-folder", ["measure", "array-map", "--db", "{tmp}/nope/d.db"], r"does not exist",
         exit_codes=(1,)),
    Case("db-not-a-database", ["measure", "array-map", "--db", "{tmp}/junk.db"], r"not a labbench dataset",
         files={"junk.db": "this is not sqlite\n" * 50}),
    Case("db-truncated", ["runs", "--db", "{tmp}/t.db"], r"truncated",
         files={"t.db": b"SQLite format 3\x00\x10\x00" + b"\x00" * 5000}),
    Case("runs-no-dataset", ["runs", "--db", "{tmp}/none.db"], r"no dataset at", exit_codes=(1,),
         forbid=("{tmp}/none.db",)),
    Case("export-missing-run", ["runs", "--db", "{tmp}/d.db", "export", "7", "{tmp}/o.csv"], r"no run 7",
         exit_codes=(1,), setup=lambda tmp: __import__("labbench.store").store.Store(tmp / "d.db")._conn().close(),
         forbid=("{tmp}/o.csv",)),
    # bench files
    Case("bench-unknown-name", ["bench", "check", "simm"], r"Shipped bench files: .*sim", exit_codes=(2,)),
    Case("bench-duplicate-limit-key", ["bench", "check", "{tmp}/b.yaml"], r"key 'smu\.hi' .*repeated on line",
         files={"b.yaml": bench(**{LIMITS: LIMITS + "\n  smu.hi: {max_voltage: 35, max_compliance: 1.0e-3}"})}),
    Case("bench-second-limits-block", ["bench", "check", "{tmp}/b.yaml"], r"key 'limits'.*repeated",
         files={"b.yaml": SIM + "\nlimits:\n  smu.hi: {max_voltage: 35, max_compliance: 1.0e-3}\n"}),
    Case("bench-inf-limit", ["bench", "check", "{tmp}/b.yaml"], r"limits\.smu\.hi\.max_voltage.*finite",
         files={"b.yaml": bench(**{"max_voltage: 3.5": "max_voltage: .inf"})}),
    Case("bench-huge-voltage-limit", ["bench", "check", "{tmp}/b.yaml"], r"above the instrument's own rating \(210\)",
         files={"b.yaml": bench(**{"max_voltage: 3.5": "max_voltage: 1.0e6"})}),
    Case("bench-huge-compliance", ["bench", "check", "{tmp}/b.yaml"], r"max_compliance.*rating",
         files={"b.yaml": bench(**{"max_compliance: 1.0e-3": "max_compliance: 1.0e3"})}),
    Case("bench-huge-width", ["bench", "check", "{tmp}/b.yaml"], r"max_pulse_width.*rating",
         files={"b.yaml": bench(**{"pg.ch1: {max_voltage: 3.0, max_pulse_width: 1.0e-3}":
                                   "pg.ch1: {max_voltage: 3.0, max_pulse_width: 1.0e6}"})}),
    Case("bench-bool-limit", ["bench", "check", "{tmp}/b.yaml"], r"max_voltage.*(float|number)",
         files={"b.yaml": bench(**{"max_voltage: 3.5": "max_voltage: true"})}),
    Case("bench-nan-operating", ["bench", "check", "{tmp}/b.yaml"], r"read_voltage",
         files={"b.yaml": bench(**{"read_voltage: 0.1": "read_voltage: .nan"})}),
    Case("bench-operating-above-limit", ["bench", "check", "{tmp}/b.yaml"],
         r"operating\.set\.amplitude = 3\.2 exceeds limits\.pg\.ch1\.max_voltage",
         files={"b.yaml": bench(**{"set:   {amplitude: 1.5": "set:   {amplitude: 3.2"})}),
    Case("bench-gate-on-smu", ["bench", "check", "{tmp}/b.yaml"], r"operating\.gate_terminal: 'smu\.hi' is not",
         files={"b.yaml": bench(**{"gate_terminal: pg.ch2": "gate_terminal: smu.hi"})}),
    Case("bench-address-two-spellings", ["bench", "check", "{tmp}/b.yaml"], r"duplicate address",
         files={"b.yaml": bench(**{"GPIB0::10::INSTR": "gpib0::24::instr"})}),
    Case("bench-device-model-missing", ["bench", "check", "{tmp}/b.yaml"], r"device model 'nope' not found.*hfox",
         files={"b.yaml": bench(**{"device_model: hfox_2t2r_default": "device_model: nope"})}),
    Case("bench-not-yaml", ["bench", "check", "{tmp}/b.yaml"], r"not valid YAML",
         files={"b.yaml": "name: [unclosed\n"}),
    Case("bench-binary", ["bench", "check", "{tmp}/b.yaml"], r"not a text file",
         files={"b.yaml": bytes(range(256)) * 4}),
    Case("rehearse-unknown-procedure", ["bench", "rehearse", "sim", "pulse"], r"not a procedure", exit_codes=(2,)),
]

CASES += [
    Case("command-typo-suggests", ["trian"], r"No such command 'trian'\. Did you mean 'train'\?", exit_codes=(2,)),
    Case("export-missing-run-db-after", ["runs", "export", "7", "{tmp}/o.csv", "--db", "{tmp}/d.db"], r"no run 7",
         exit_codes=(1,), setup=lambda tmp: __import__("labbench.store").store.Store(tmp / "d.db")._conn().close()),
]


def _needs_no_visa_library(tmp):
    import importlib.util

    import pytest

    if importlib.util.find_spec("pyvisa_py") is not None:
        pytest.skip("pyvisa-py is installed here: the bench would try the real bus")


CASES += [
    Case("hardware-bench-without-a-visa-library", ["bench", "check", "hardware_example"],
         r"no VISA library on this machine.*labbench\[hardware\]", exit_codes=(1,), setup=_needs_no_visa_library),
]

# read disturb: a stress is a positive voltage at or above the read voltage, inside the limits
CASES += [
    M("read-disturb-negative-stress", "read-disturb", "stress_voltage=-0.3", expect=r"stress_voltage=-0\.3 V",
      forbid=("{tmp}/d.db",)),
    M("read-disturb-below-read", "read-disturb", "stress_voltage=0.01", expect=r"below the bench's read voltage",
      forbid=("{tmp}/d.db",)),
    M("read-disturb-stress-nan", "read-disturb", "stress_voltage=nan", expect=r"stress_voltage=nan is not a finite",
      forbid=("{tmp}/d.db",)),
    M("read-disturb-beyond-limit", "read-disturb", "stress_voltage=40", expect=r"sources up to 40 V",
      forbid=("{tmp}/d.db",)),
    M("read-disturb-zero-reads", "read-disturb", "stress_reads=0", expect=r"stress_reads", forbid=("{tmp}/d.db",)),
]
