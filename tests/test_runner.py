"""The procedure runner: rows reach the dataset, outputs go off on every exit path."""
import pytest

from labbench.errors import RunFailed
from pymeasure.experiment import FloatParameter, IntegerParameter, Procedure

from labbench.runner import run_procedure
from labbench.store import Store


class RecordingBench:
    """Just enough of a Bench to watch what the runner does to it."""

    def __init__(self):
        self.off_calls = 0

    def outputs_off(self):
        self.off_calls += 1

    def snapshot(self):
        return {"instruments": {"smu": "KEITHLEY,2450,sim"}}


class Ramp(Procedure):
    INDEX = {"step": ""}
    VALUES = {"voltage": "V"}
    steps = IntegerParameter("Steps", default=5)
    slope = FloatParameter("Slope", units="V", default=0.1)
    fail_at = IntegerParameter("Fail at", default=-1)

    def execute(self):
        for i in range(self.steps):
            if i == self.fail_at:
                raise RuntimeError("compliance tripped")
            self.emit("results", {"step": i, "voltage": i * self.slope})
            self.emit("progress", 100 * (i + 1) / self.steps)


def test_rows_reach_the_store_with_parameters(tmp_path):
    store, bench = Store(tmp_path / "d.db"), RecordingBench()
    res = run_procedure(Ramp(steps=7, slope=0.2), bench, store, progress=False)
    assert res.status == "finished" and len(res.data) == 7
    assert bench.off_calls == 1
    stored = store.load(res.run_id).sort_values("step")
    assert stored["voltage"].iloc[-1] == pytest.approx(1.2)
    md = store.metadata(res.run_id)
    assert md["parameters"]["steps"] == 7 and md["bench"]["instruments"]["smu"].startswith("KEITHLEY")


def test_outputs_off_and_rows_kept_after_an_exception(tmp_path):
    store, bench = Store(tmp_path / "d.db"), RecordingBench()
    with pytest.raises(RunFailed, match="compliance.*outputs are off.*4 of 4 rows saved") as info:
        run_procedure(Ramp(steps=10, fail_at=4), bench, store, progress=False)
    assert bench.off_calls == 1
    assert info.value.result.status == "failed" and len(info.value.result.data) == 4
    runs = store.runs()
    assert len(runs) == 1 and len(store.load(int(runs.run_id[0]))) == 4
    assert runs.status[0] == "failed" and "compliance" in runs.reason[0] and runs.rows[0] == 4


def test_outputs_off_on_ctrl_c(tmp_path):
    class Interrupted(Ramp):
        def execute(self):
            raise KeyboardInterrupt

    bench, store = RecordingBench(), Store(tmp_path / "d.db")
    with pytest.raises(KeyboardInterrupt):
        run_procedure(Interrupted(), bench, store, progress=False)
    assert bench.off_calls == 1
    runs = store.runs()
    assert runs.status.tolist() == ["aborted"] and "interrupted" in runs.reason[0]


class ErrorsBench(RecordingBench):
    """A bench whose instruments report errors once the run stops (as -410 Query
    INTERRUPTED after a signal lands between a query's write and its read)."""

    def instrument_errors(self):
        return ["pg: -410,\"Query INTERRUPTED\""] if self.off_calls else []


def test_an_interrupt_that_leaves_an_instrument_error_is_still_an_abort(tmp_path):
    class Interrupted(Ramp):
        def execute(self):
            self.emit("results", {"step": 0, "voltage": 0.0})
            raise KeyboardInterrupt("SIGTERM")

    bench, store = ErrorsBench(), Store(tmp_path / "d.db")
    with pytest.raises(KeyboardInterrupt):
        run_procedure(Interrupted(), bench, store, progress=False)
    runs = store.runs()
    assert runs.status.tolist() == ["aborted"] and "SIGTERM" in runs.reason[0]
    assert "-410" in runs.reason[0] and runs.rows[0] == 1


def test_an_instrument_error_fails_a_run_that_was_not_interrupted(tmp_path):
    bench, store = ErrorsBench(), Store(tmp_path / "d.db")
    with pytest.raises(RunFailed, match="instrument error.*-410"):
        run_procedure(Ramp(steps=3), bench, store, progress=False)
    assert store.runs().status.tolist() == ["failed"]


# -- a signal at each step of a run's creation ----------------------------------------------
def _step_targets():
    import qcodes.dataset as qd
    from qcodes.dataset.measurements import Runner

    from labbench.store import RunWriter

    return [("Store._conn", Store, "_conn"), ("load_or_create_experiment", qd, "load_or_create_experiment"),
            ("Measurement.register_custom_parameter", qd.Measurement, "register_custom_parameter"),
            ("Measurement.run", qd.Measurement, "run"), ("Runner.__enter__", Runner, "__enter__"),
            ("RunWriter.__init__", RunWriter, "__init__"), ("RunWriter.add_metadata", RunWriter, "add_metadata"),
            ("RunWriter.add", RunWriter, "add"), ("RunWriter.flush", RunWriter, "flush"),
            ("RunWriter.finish", RunWriter, "finish")]


_ONCE = ("Store._conn", "load_or_create_experiment", "Measurement.run", "Runner.__enter__", "RunWriter.__init__",
         "RunWriter.finish")
_REPEATED = ("Measurement.register_custom_parameter", "RunWriter.add_metadata", "RunWriter.add", "RunWriter.flush")


@pytest.mark.parametrize("name, occurrence", [(n, 1) for n in _ONCE] + [(n, k) for n in _REPEATED for k in (1, 2)])
def test_a_signal_at_any_step_of_run_creation_leaves_an_aborted_run_or_none(tmp_path, monkeypatch, name, occurrence):
    """A real SIGINT delivered at the k-th call of each step (not a sleep: deterministic).
    Whatever the step, the dataset then holds no run or one run recorded aborted: never a
    run without a status ("unknown") or still "running"; outputs are off."""
    import signal

    target = {n: (owner, attr) for n, owner, attr in _step_targets()}[name]
    owner, attr = target
    real = getattr(owner, attr)
    calls = {"n": 0}

    def with_signal(*a, **kw):
        calls["n"] += 1
        if calls["n"] == occurrence:
            signal.raise_signal(signal.SIGINT)
        return real(*a, **kw)

    monkeypatch.setattr(signal, "SIGINT", signal.SIGINT)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    monkeypatch.setattr(owner, attr, with_signal)
    store, bench = Store(tmp_path / "d.db"), RecordingBench()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_procedure(Ramp(steps=600), bench, store, progress=False)
    except BaseException:
        if calls["n"] < occurrence:      # this step runs fewer times than that: nothing to test
            pytest.skip(f"{name} runs {calls['n']} time(s)")
        raise
    finally:
        signal.signal(signal.SIGINT, old)
        monkeypatch.undo()
    runs = Store(tmp_path / "d.db").runs() if (tmp_path / "d.db").exists() else None
    statuses = [] if runs is None else runs.status.tolist()
    assert statuses in ([], ["aborted"]), (name, occurrence, statuses)
    if statuses:
        assert int(runs.rows[0]) == len(Store(tmp_path / "d.db").load(int(runs.run_id[0])))
