"""SIGTERM and SIGHUP switch every output off like Ctrl-C, and the run is recorded as aborted
with what was measured so far.  A real subprocess running the real CLI."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from labbench.store import Store

SCRIPT = textwrap.dedent("""
    import atexit, json, sys
    from labbench.instruments import bench as bench_mod

    worlds = []
    _open = bench_mod.Bench._open
    def _spy(self):
        _open(self)
        worlds.append(self.world)
        print("READY", flush=True)
    bench_mod.Bench._open = _spy

    @atexit.register
    def dump():  # the simulated instruments' state as the process ends
        state = {name: inst.outputs_on() for w in worlds for name, inst in w.instruments.items()}
        relays = sorted(map(list, worlds[0].instruments["matrix"].closed)) if worlds else None
        open(sys.argv[1], "w").write(json.dumps({"outputs_on": state, "relays": relays}))

    from labbench import store as store_mod
    _flush = store_mod.RunWriter.flush
    def _flush_spy(self):
        _flush(self)
        if self.saved_rows and not getattr(store_mod, "_told", False):
            store_mod._told = True
            print("ROWS", flush=True)   # rows are on disk: the run exists and has data
    store_mod.RunWriter.flush = _flush_spy

    from labbench.cli import main
    main(sys.argv[2:])
""")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_switches_outputs_off_and_records_abort(tmp_path, sig):
    script, state, db = tmp_path / "run.py", tmp_path / "state.json", tmp_path / "d.db"
    script.write_text(SCRIPT)
    argv = [sys.executable, str(script), str(state), "measure", "pulse-train", "-p", "cells=0:16, 0:16",
            "-p", "cycles=20", "--db", str(db)]
    # SIGINT ignored in the child, as a shell's `&` job starts: labbench must still stop on it
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    # not a sleep (flaky under load): the signal goes once rows of the run are on disk
    while (line := p.stdout.readline()) and line.strip() != "ROWS":   # QCoDeS prints first
        pass
    assert line.strip() == "ROWS", p.stderr.read()
    assert p.poll() is None, p.stderr.read()
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == (130 if sig == signal.SIGINT else 143), (out, err)
    assert "Traceback" not in err and "outputs switched off" in err
    s = json.loads(state.read_text())
    assert s["outputs_on"] == {"smu": [], "pg": [], "matrix": [], "chuck": []}, s   # the heater too
    assert s["relays"] == [], s
    runs = Store(db).runs()
    reason = "Ctrl-C" if sig == signal.SIGINT else signal.Signals(sig).name
    assert runs.status.tolist() == ["aborted"] and reason in runs.reason[0]
    assert runs.rows[0] > 0 and len(Store(db).load(int(runs.run_id[0]))) == runs.rows[0]


def test_a_signal_during_a_dataset_write_waits_for_the_write_to_finish():
    """Rows handed to the dataset and their count go together: a SIGTERM inside the block
    is acted on (as Terminated) only when the block is done."""
    from labbench.errors import Terminated, install_signal_handlers, signals_deferred

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    install_signal_handlers()
    done = []
    try:
        with pytest.raises(Terminated):
            with signals_deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)              # the signal is delivered here, and held
                done.append("written")
        assert done == ["written"]
    finally:
        for s, h in old.items():
            signal.signal(s, h)
