"""Every case of the bad-input table (tests/cases_*.py): a clear message, a non-zero exit,
no traceback, nothing half-written."""
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parent))
from badcases import all_cases

from labbench.cli import main

CASES = all_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_a_message_not_a_traceback(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)               # outputs of a default run land here, not in the repo
    monkeypatch.setenv("LABBENCH_MNIST", str(tmp_path / "no-mnist"))  # never download in tests
    argv = case.prepare(tmp_path)
    r = CliRunner().invoke(main, argv, catch_exceptions=True)
    out = r.output
    assert r.exception is None or isinstance(r.exception, SystemExit), \
        f"escaped exception {type(r.exception).__name__}: {r.exception}\n{out}"
    assert "Traceback" not in out, out
    assert r.exit_code in case.exit_codes, f"exit {r.exit_code}, wanted one of {case.exit_codes}\n{out}"
    import re
    assert re.search(case.expect, out, re.S | re.I), f"expected /{case.expect}/ in:\n{out}"
    assert not case.leftovers(tmp_path), f"left behind: {case.leftovers(tmp_path)}"
    assert not list(tmp_path.rglob("*.tmp*")), f"stray temp files: {list(tmp_path.rglob('*.tmp*'))}"
