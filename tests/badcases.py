"""The table of bad inputs: each a command line a careless (or careful) user might type,
and what labbench must answer.  ``tests/test_bad_inputs.py`` runs every case in-process;
``bench/robustness.py`` runs them as real subprocesses and counts tracebacks.

Each area keeps its cases in ``tests/cases_<area>.py`` as a list ``CASES`` of :class:`Case`.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass
class Case:
    id: str
    argv: list[str]                      # after `labbench`; "{tmp}" is replaced by the case's folder
    expect: str                          # regex the output (stdout+stderr) must match
    files: dict[str, str | bytes] = field(default_factory=dict)   # name -> content, written in {tmp}
    setup: Callable[[Path], None] | None = None                   # more preparation, given {tmp}
    exit_codes: tuple[int, ...] = (1, 2)  # allowed exit statuses (never 0, never a traceback)
    forbid: tuple[str, ...] = ()          # paths (with {tmp}) that must not exist afterwards
    area: str = ""

    def prepare(self, tmp: Path) -> list[str]:
        for name, content in self.files.items():
            p = tmp / name
            p.parent.mkdir(parents=True, exist_ok=True)
            (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
        if self.setup is not None:
            self.setup(tmp)
        return [a.replace("{tmp}", str(tmp)) for a in self.argv]

    def leftovers(self, tmp: Path) -> list[str]:
        return [p for p in (f.replace("{tmp}", str(tmp)) for f in self.forbid) if Path(p).exists()]


def all_cases() -> list[Case]:
    here = Path(__file__).parent
    out: list[Case] = []
    for mod in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if mod.name.startswith("cases_"):
            m = importlib.import_module(mod.name)
            for c in m.CASES:
                c.area = c.area or mod.name.removeprefix("cases_")
                out.append(c)
    ids = [c.id for c in out]
    dup = {i for i in ids if ids.count(i) > 1}
    assert not dup, f"duplicate case ids: {dup}"
    return out
