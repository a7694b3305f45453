"""`labbench characterize`: a plan of procedures -> runs -> one fitted, complete device model.

A small plan runs end to end on the simulated bench; every step is checked before anything is
sent; an interrupted campaign keeps its finished steps and resumes at the next (in process and
through a real SIGTERM to the CLI); bad plans get one line naming the step.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from click.testing import CliRunner

from labbench.characterize import load_plan, run_campaign
from labbench.characterize.campaign import CampaignError
from labbench.characterize.fit import CampaignFitError, fit_campaign
from labbench.cli import main as cli
from labbench.paths import resolve_bench
from labbench.physics.device_model import load_device_model
from labbench.procedures.base import PlanError
from labbench.store import Store

SMALL = {
    "name": "small",
    "steps": [
        {"name": "iv", "procedure": "iv-sweep", "params": {"cells": "20, 0", "sides": "+", "points": 10}},
        {"name": "trains", "procedure": "pulse-train",
         "params": {"cells": "0:4, 0:2", "sides": "+-", "cycles": 2, "pulses": 64}},
        {"name": "bake-a", "procedure": "retention",
         "params": {"cells": "22, 0:4", "sides": "+-", "temperature": 473.15, "duration": 1.0e4, "points": 10,
                    "levels": 2}},
        {"name": "bake-b", "procedure": "retention",
         "params": {"cells": "23, 0:4", "sides": "+-", "temperature": 523.15, "duration": 1.0e4, "points": 10,
                    "levels": 2}},
    ],
    "fit": {"model": "neurosim"},
}


def _plan_file(tmp_path, plan=SMALL, name="plan.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(plan, sort_keys=False))
    return p


def _run(tmp_path, plan=SMALL, **kw):
    out = tmp_path / "out"
    return run_campaign(load_plan(_plan_file(tmp_path, plan)), resolve_bench("sim"), out, out / "labbench.db",
                        progress=False, echo=lambda *_: None, **kw)


def test_default_plan_is_valid_and_within_the_sim_bench_limits():
    from labbench.characterize.campaign import check_steps
    from labbench.instruments import Bench

    plan = load_plan()
    assert {s.procedure for s in plan.steps} >= {"iv-sweep", "pulse-train", "retention", "endurance"}
    temps = {s.params["temperature"] for s in plan.steps if s.procedure == "retention"}
    assert len(temps) >= 2 and min(temps) >= 423.15                  # bakes at 150-250 C, two or more
    with Bench.from_yaml("sim") as b:
        assert len(check_steps(plan, b)) == len(plan.steps)


def test_small_campaign_fits_one_complete_model_with_provenance(tmp_path):
    res = _run(tmp_path)
    assert res.ran == ["iv", "trains", "bake-a", "bake-b"] and not res.skipped
    runs = Store(res.db).runs()
    assert runs.status.tolist() == ["finished"] * 4
    fit = fit_campaign(res, load_device_model(None), name="small", model="neurosim")
    dm = fit.device_model
    prov = dm.provenance
    assert prov["update"].startswith("fitted from campaign 'small' runs 2")
    assert prov["retention"].startswith("fitted from campaign 'small' runs 3, 4") and "Arrhenius" in prov["retention"]
    for block in ("endurance", "read_disturb", "faults"):
        assert "not measured" in prov[block] and "measure with" in prov[block]
    # 10 points per branch leave one below the threshold: the shape is not measured, and said so
    assert "not measured" in prov["energy"] and "run(s) 1 (iv-sweep) does not measure its shape" in prov["energy"]
    assert dm.retention is not None and dm.energy is not None           # nothing silently missing
    truth = load_device_model(None)
    assert abs(dm.update.g_max / truth.update.g_max - 1) < 0.1
    from labbench.characterize.fit import write_report

    written = write_report(fit, res, res.out)
    assert all(p.exists() for p in written)
    text = (res.out / "report.md").read_text()
    assert "## Provenance of every block" in text and "activation_energy" in text
    assert "retention: inherited" not in text                          # the stale pulse-fit note is gone
    assert load_device_model(res.out / "device_model.yaml").provenance == prov


def test_interrupted_campaign_keeps_finished_steps_and_resumes(tmp_path, monkeypatch):
    import labbench.runner as runner

    real = runner.run_procedure
    calls = []

    def flaky(proc, bench, store, **kw):
        calls.append(type(proc).__name__)
        if len(calls) == 2:
            raise KeyboardInterrupt("SIGTERM")
        return real(proc, bench, store, **kw)

    monkeypatch.setattr(runner, "run_procedure", flaky)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path)
    state = json.loads((tmp_path / "out" / "campaign.json").read_text())
    assert state["status"] == "aborted"
    assert state["steps"]["iv"]["status"] == "finished" and state["steps"]["trains"]["status"] == "aborted"
    monkeypatch.setattr(runner, "run_procedure", real)
    res = _run(tmp_path)
    assert res.skipped == ["iv"] and res.ran == ["trains", "bake-a", "bake-b"]
    assert res.state["steps"]["iv"]["run_id"] == state["steps"]["iv"]["run_id"]


def test_a_changed_plan_does_not_resume_silently(tmp_path):
    plan = {**SMALL, "steps": SMALL["steps"][:1]}
    _run(tmp_path, plan)
    other = {**plan, "steps": [{**plan["steps"][0], "params": {**plan["steps"][0]["params"], "points": 12}}]}
    with pytest.raises(CampaignError, match="--fresh"):
        _run(tmp_path, other)
    res = _run(tmp_path, other, fresh=True)
    assert res.ran == ["iv"]


@pytest.mark.parametrize("step, words", [
    ({"name": "hot", "procedure": "retention", "params": {"cells": "0, 0", "temperature": 600.0}},
     ["plan step 2 (hot, retention)", "max_temperature"]),
    ({"name": "loud", "procedure": "pulse-train", "params": {"cells": "0, 0", "amplitudes": "9.0"}},
     ["plan step 2 (loud, pulse-train)", "max_voltage"]),
    ({"name": "far", "procedure": "pulse-train", "params": {"cells": "40, 0"}}, ["plan step 2 (far"]),
])
def test_a_step_beyond_the_bench_is_refused_before_anything_is_sent(tmp_path, step, words):
    plan = {**SMALL, "steps": [SMALL["steps"][0], step]}
    with pytest.raises(PlanError) as e:
        _run(tmp_path, plan)
    for w in words:
        assert w in str(e.value), str(e.value)
    assert Store(tmp_path / "out" / "labbench.db").runs().empty          # not even the first step ran


@pytest.mark.parametrize("edit, words", [
    (lambda p: p["steps"][0].update(procedure="ivsweep"), ["unknown procedure 'ivsweep'", "pulse-train"]),
    (lambda p: p["steps"][0]["params"].update(voltage=1.0), ["has no parameter 'voltage'", "v_max"]),
    (lambda p: p["steps"][1].update(name="iv"), ["used twice"]),
    (lambda p: p["steps"][0]["params"].update(points="many"), ["steps.0 (iv).params", "points"]),
    (lambda p: p["steps"][0]["params"].update(v_max=float("inf")), ["steps.0"]),
    (lambda p: p.update(steps=[]), ["steps"]),
    (lambda p: p["fit"].update(model="cubic"), ["fit.model"]),
])
def test_bad_plans_name_the_step_and_the_fix(tmp_path, edit, words):
    import copy

    plan = copy.deepcopy(SMALL)
    edit(plan)
    with pytest.raises(ValueError) as e:
        load_plan(_plan_file(tmp_path, plan))
    for w in words:
        assert w in str(e.value), str(e.value)


def test_plan_with_a_duplicate_key_is_refused(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("name: a\nname: b\nsteps: []\n")
    with pytest.raises(ValueError, match="name"):
        load_plan(p)


def test_a_campaign_without_pulse_trains_says_what_to_add(tmp_path):
    res = _run(tmp_path, {**SMALL, "steps": [SMALL["steps"][0]]})
    with pytest.raises(CampaignFitError, match="add a pulse-train step"):
        fit_campaign(res, load_device_model(None), name="x")


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    plan = _plan_file(tmp_path, {**SMALL, "steps": [{"name": "x", "procedure": "nope"}]})
    r = CliRunner().invoke(cli, ["characterize", "sim", "--plan", str(plan), "--out", str(tmp_path / "o")])
    assert r.exit_code != 0 and "Traceback" not in r.output and "unknown procedure 'nope'" in r.output
    r = CliRunner().invoke(cli, ["characterize", "sim", "--show-plan"])
    assert r.exit_code == 0 and "bake-250C: retention" in r.output


SCRIPT = """
import sys
from labbench.cli import main
main(sys.argv[1:])
"""


def test_sigterm_keeps_finished_steps_and_the_same_command_resumes(tmp_path):
    plan = {**SMALL, "steps": [SMALL["steps"][0],
                               {"name": "long", "procedure": "pulse-train",
                                "params": {"cells": "0:16, 0:16", "sides": "+-", "cycles": 20, "pulses": 64}}]}
    pf, out = _plan_file(tmp_path, plan), tmp_path / "out"
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    argv = [sys.executable, str(script), "characterize", "sim", "--plan", str(pf), "--out", str(out), "--quiet",
            "--no-fit"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    while (line := p.stdout.readline()) and "[2/2] long" not in line:
        pass
    assert "[2/2] long" in line, p.stderr.read()
    time.sleep(1.0)                       # inside the long step
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 143 and "Traceback" not in err and "outputs switched off" in err, err
    state = json.loads((out / "campaign.json").read_text())
    assert state["steps"]["iv"]["status"] == "finished" and state["steps"]["long"]["status"] == "aborted"
    runs = Store(out / "labbench.db").runs().sort_values("run_id")
    assert runs.status.tolist() == ["finished", "aborted"]
    # the same command again resumes at the step that did not finish
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    first = next(line for line in p.stdout if line.startswith("["))
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=60)
    assert first.startswith("[2/2] long"), first
    state = json.loads((out / "campaign.json").read_text())
    assert state["steps"]["iv"]["run_id"] == 1                         # kept, not measured again


def test_live_view_follows_each_step_and_its_abort_stops_the_campaign(tmp_path):
    """--live on characterize: one page, rebuilt for each step (feed.next_run), and Abort on
    it stops the campaign the way Ctrl-C does, keeping the finished steps."""
    import threading

    from labbench.live.session import start

    live = start(port=0, say=lambda *_: None)
    try:
        plan = {**SMALL, "steps": SMALL["steps"][:2]}
        res = run_campaign(load_plan(_plan_file(tmp_path, plan)), resolve_bench("sim"), tmp_path / "o",
                           tmp_path / "o" / "labbench.db", progress=False, echo=lambda *_: None, live=live)
        assert res.ran == ["iv", "trains"]
        assert live.feed.generation == 2 and live.feed.info["name"] == "PulseTrain" and len(live.feed) > 0
        assert live.feed.status == "finished"
        # Abort pressed on the page during the second step of another campaign
        long = {**SMALL, "steps": [SMALL["steps"][0], {"name": "long", "procedure": "pulse-train",
                                                        "params": {"cells": "0:16, 0:8", "cycles": 5}}]}
        outcome = {}

        def campaign():
            try:
                run_campaign(load_plan(_plan_file(tmp_path, long, "long.yaml")), resolve_bench("sim"),
                             tmp_path / "o2", tmp_path / "o2" / "labbench.db", progress=False,
                             echo=lambda *_: None, live=live)
            except BaseException as e:  # noqa: BLE001 - the test inspects it
                outcome["error"] = e

        t = threading.Thread(target=campaign)
        t.start()
        deadline = time.monotonic() + 60
        while not (live.feed.generation == 4 and len(live.feed) > 100) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "aborting" in live.control.abort()
        t.join(60)
        assert isinstance(outcome.get("error"), KeyboardInterrupt)
        state = json.loads((tmp_path / "o2" / "campaign.json").read_text())
        assert state["status"] == "aborted" and state["steps"]["iv"]["status"] == "finished"
        assert state["steps"]["long"]["status"] == "aborted"
    finally:
        live.close(linger=0)
