"""Run a campaign plan on a bench: every step checked first, each one a run, resumable.

The state file ``OUT/campaign.json`` records the plan's digest and, per step, its status
(finished, aborted, failed), its run id in the dataset, its rows and its wall and bench
time.  It is written atomically after every step, so an interruption (Ctrl-C, SIGTERM, a
failed step, a crash) keeps every finished step; running the same command again resumes at
the first step not finished.  A changed plan does not resume silently: it is refused until
``fresh`` (a new campaign in the same folder; the old runs stay in the dataset).

On a simulated bench the chip lives in the process: a resumed campaign continues on a fresh
simulated chip of the same seed, not on the one the interrupted process had programmed.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from labbench.errors import LabbenchError

from .plan import Plan

STATE_FILE = "campaign.json"


class CampaignError(LabbenchError):
    """A campaign that cannot start or resume as asked (nothing was sent)."""


@dataclass
class CampaignResult:
    out: Path
    db: Path
    state: dict
    ran: list[str] = field(default_factory=list)        # steps run by this call
    skipped: list[str] = field(default_factory=list)    # finished before, kept

    def run_ids(self, procedure: str | None = None) -> list[int]:
        """Run ids of the finished steps (of one procedure), in plan order."""
        return [s["run_id"] for s in self.state["steps"].values()
                if s["status"] == "finished" and (procedure is None or s["procedure"] == procedure)]


def _load_state(path: Path) -> dict | None:
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
        if not isinstance(state, dict) or not isinstance(state.get("steps"), dict):
            raise ValueError("no steps")
    except (ValueError, OSError) as e:
        raise CampaignError(f"{path} is not a campaign state file ({e}); move it away, or choose another --out") \
            from None
    return state


def _save_state(path: Path, state: dict) -> None:
    from labbench.atomic import write_text

    write_text(path, json.dumps(state, indent=1, default=str))


def check_steps(plan: Plan, bench) -> list:
    """Every step's procedure, its whole plan checked on ``bench`` before anything is sent
    (levels against the limits, cells inside the chip, sizes); a refusal names the step."""
    from labbench.procedures.base import PlanError

    procs = []
    for i, step in enumerate(plan.steps):
        proc = step.build()
        try:
            proc.check_plan(bench)
        except (PlanError, ValueError) as e:
            raise PlanError(f"plan step {i + 1} ({step.name}, {step.procedure}): {e}") from None
        procs.append(proc)
    return procs


def run_campaign(plan: Plan, bench_path, out: Path, db: Path, *, fresh: bool = False,
                 progress: bool = True, echo=print, live=None) -> CampaignResult:
    """Run ``plan``'s steps not yet finished on the bench; returns the state (every step's
    run id).  Raises what stopped it (an interrupt, a failed run) after saving the state.
    ``live``: a live view (:mod:`labbench.live`) that shows each step as it runs and can
    pause or abort it."""
    from labbench.instruments import Bench
    from labbench.runner import run_procedure
    from labbench.store import Store

    out.mkdir(parents=True, exist_ok=True)
    path = out / STATE_FILE
    state = _load_state(path)
    if state is not None and state.get("plan_digest") != plan.digest() and not fresh:
        raise CampaignError(f"{out} holds a campaign of another plan ({state.get('plan_name')!r}, digest "
                            f"{state.get('plan_digest')}); nothing was sent: pass --fresh to start this plan "
                            f"there (the earlier runs stay in the dataset), or choose another --out")
    if state is None or fresh:
        state = {"plan_name": plan.name, "plan_digest": plan.digest(), "plan": plan.model_dump(),
                 "bench": str(bench_path), "db": str(db), "status": "running", "steps": {}}
    result = CampaignResult(out=out, db=db, state=state)
    store = Store(db)
    with Bench.from_yaml(bench_path) as bench:
        procs = check_steps(plan, bench)           # every step, before the first sends anything
        if live is not None:
            live.follow_bench(bench)
        state["status"] = "running"
        _save_state(path, state)
        for k, (step, proc) in enumerate(zip(plan.steps, procs)):
            done = state["steps"].get(step.name, {})
            if done.get("status") == "finished":
                result.skipped.append(step.name)
                continue
            echo(f"[{k + 1}/{len(plan.steps)}] {step.name}: {step.procedure}")
            t_wall, t_bench = time.monotonic(), bench.now()
            entry = {"procedure": step.procedure, "params": dict(step.params), "status": "running"}
            state["steps"][step.name] = entry
            if live is not None:
                live.feed.next_run({"name": type(proc).__name__, "metadata": {"parameters": dict(step.params)},
                                    "step": f"{k + 1}/{len(plan.steps)} {step.name}"})
            try:
                res = run_procedure(proc, bench, store, progress=progress, tap=live and live.feed,
                                    control=live and live.control)
            except BaseException as e:
                res = getattr(e, "result", None)
                entry.update(status="aborted" if isinstance(e, KeyboardInterrupt) else "failed",
                             reason=str(e) or type(e).__name__,
                             run_id=getattr(res, "run_id", None), rows=len(res.data) if res is not None else 0)
                state["status"] = entry["status"]
                _save_state(path, state)
                raise
            entry.update(status="finished", run_id=res.run_id, rows=len(res.data),
                         wall_s=round(time.monotonic() - t_wall, 2), bench_s=round(bench.now() - t_bench, 3))
            result.ran.append(step.name)
            _save_state(path, state)
    state["status"] = "measured"
    _save_state(path, state)
    return result


def save_state(result: CampaignResult) -> None:
    _save_state(result.out / STATE_FILE, result.state)
