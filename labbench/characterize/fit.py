"""Fit a whole campaign into one device model, and write its report.

* pulse-train runs (operating point and sweeps, together) -> update curves, C2C, D2D, HRS
  spread, read noise and, with a sweep, the switching kinetics (:func:`fit_device`);
* retention runs -> the retention block, Arrhenius over bakes at two or more temperatures
  (:func:`fit_retention`, on the model above as its base);
* I-V sweeps -> the device's I-V shape (linear or sinh, below the thresholds), which the
  read and the energy block use (:func:`fit_iv_shape`);
* read-disturb runs -> ``read_disturb.factor`` on the fitted switching kinetics
  (:func:`fit_read_disturb`, on the model above as its base);
* every other block is inherited from the base model, and the provenance says so with the
  procedure that would measure it.  A measured run no fitter uses yet (endurance, I-V) is
  named in the provenance beside the inherited block, so nothing reads as fitted that is not.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from labbench.errors import LabbenchError

#: the blocks a procedure measures that no fitter reads yet (said in the provenance)
MEASURED_NOT_FITTED = {"endurance": "endurance"}


class CampaignFitError(LabbenchError):
    """The campaign's runs cannot make a device model; the message says what to measure."""


@dataclass
class CampaignFit:
    device_model: object
    pulse: object                       # FitResult
    retention: object | None = None     # RetentionFit
    read_disturb: object | None = None  # ReadDisturbFit
    iv_shape: object | None = None      # IVShapeFit
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        out = {"name": self.device_model.name, "pulse_trains": self.pulse.summary(),
               "provenance": dict(self.device_model.provenance or {}), "notes": current_notes(self)}
        if self.retention is not None:
            out["retention"] = self.retention.summary()
        if self.read_disturb is not None:
            out["read_disturb"] = self.read_disturb.summary()
        if self.iv_shape is not None:
            out["iv_shape"] = self.iv_shape.summary()
        return out


def _runs(store, result, procedure: str) -> tuple[pd.DataFrame | None, list[int]]:
    ids = result.run_ids(procedure)
    if not ids:
        return None, []
    return pd.concat([store.load(i) for i in ids], ignore_index=True), ids


def fit_campaign(result, base, *, name: str, model: str = "auto", method: str = "auto") -> CampaignFit:
    """One device model from a finished campaign's runs (``result``: CampaignResult)."""
    from labbench.fitting.api import fit_device
    from labbench.fitting.io import DataError
    from labbench.fitting.retention import fit_retention
    from labbench.store import Store

    store = Store(result.db)
    trains, train_ids = _runs(store, result, "pulse-train")
    if trains is None:
        raise CampaignFitError("the campaign has no finished pulse-train run, so there is no update model to fit: "
                               "add a pulse-train step to the plan (see the default plan)")
    src = f"campaign {result.state['plan_name']!r} runs {', '.join(map(str, train_ids))} in {result.db.name}"
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pulse = fit_device(trains, model=model, method=method, base=base, name=name, source=src)
        except DataError as e:
            raise CampaignFitError(f"fitting the pulse trains (runs {train_ids}): {e}") from None
    notes += [str(w.message) for w in caught]
    problems = pulse.quality_problems()
    if problems:
        raise CampaignFitError(f"the pulse-train fit is poor ({'; '.join(problems)}); no model written: "
                               f"check the runs ({train_ids}) with `labbench fit` and --plot")
    dm = pulse.device_model
    bakes, bake_ids = _runs(store, result, "retention")
    ret = None
    if bakes is not None:
        bsrc = f"campaign {result.state['plan_name']!r} runs {', '.join(map(str, bake_ids))} in {result.db.name}"
        try:
            ret = fit_retention(bakes, dm, name=name, source=bsrc)
        except DataError as e:
            raise CampaignFitError(f"fitting the retention runs ({bake_ids}): {e}") from None
        # the retention fit keeps the pulse fit's model and provenance, and adds its block
        dm = dm.model_copy(update={"retention": ret.device_model.retention,
                                   "provenance": ret.device_model.provenance,
                                   "fit": {**(dm.fit or {}), "retention": ret.device_model.fit}})
    sweeps, sweep_ids = _runs(store, result, "iv-sweep")
    shape = None
    if sweeps is not None:
        from labbench.fitting.iv_shape import fit_iv_shape

        isrc = f"campaign {result.state['plan_name']!r} runs {', '.join(map(str, sweep_ids))} in {result.db.name}"
        try:
            shape = fit_iv_shape(sweeps, dm, source=isrc)
        except DataError as e:   # a coarse sweep still measured the plateaus: keep the block inherited, say why
            prov = dict(dm.provenance or {})
            prov["energy"] = (f"{prov.get('energy', 'inherited')}; the I-V of run(s) {', '.join(map(str, sweep_ids))} "
                              f"(iv-sweep) does not measure its shape: {e}")
            dm = dm.model_copy(update={"provenance": prov})
            notes.append(f"energy: I-V shape not fitted: {e}")
        else:
            notes += shape.notes
            dm = shape.device_model
    rd = None
    stress, stress_ids = _runs(store, result, "read-disturb")
    if stress is not None:
        from labbench.fitting.read_disturb import fit_read_disturb

        rsrc = f"campaign {result.state['plan_name']!r} runs {', '.join(map(str, stress_ids))} in {result.db.name}"
        try:
            rd = fit_read_disturb(stress, dm, source=rsrc)
        except DataError as e:
            raise CampaignFitError(f"fitting the read-disturb runs ({stress_ids}): {e}") from None
        notes += rd.notes
        dm = dm.model_copy(update={"read_disturb": rd.device_model.read_disturb,
                                   "provenance": rd.device_model.provenance, "fit": rd.device_model.fit})
    prov = dict(dm.provenance or {})
    for proc, block in MEASURED_NOT_FITTED.items():
        ids = result.run_ids(proc)
        if ids and block in prov and "not measured" in prov[block]:
            prov[block] += f"; measured in run(s) {', '.join(map(str, ids))} ({proc}), which no fitter reads yet"
    from labbench.physics.device_model import DeviceModel

    dm = DeviceModel.model_validate({**dm.to_dict(), "provenance": prov})
    return CampaignFit(device_model=dm, pulse=pulse, retention=ret, read_disturb=rd, iv_shape=shape,
                       notes=notes)


def current_notes(fit: CampaignFit) -> list[str]:
    """The fits' notes, less the pulse fit's 'X: inherited' for a block a later fit measured."""
    prov = fit.device_model.provenance or {}
    out = []
    for n in list(fit.pulse.notes) + (list(fit.retention.notes) if fit.retention is not None else []) + fit.notes:
        block, _, rest = n.partition(": ")
        if rest.startswith("inherited") and prov.get(block, "").startswith("fitted"):
            continue
        out.append(n)
    return out


def write_report(fit: CampaignFit, result, out: Path) -> list[Path]:
    """The model, the fit's JSON summary, its figures and a Markdown report in ``out``."""
    from labbench.atomic import write_text

    written = [out / "device_model.yaml"]
    fit.device_model.to_yaml(written[0])
    written.append(write_text(out / "fit_summary.json", json.dumps(fit.summary(), indent=1, default=str)))
    written.append(fit.pulse.plot(out / "fit_pulse_trains.png"))
    if fit.retention is not None:
        written.append(fit.retention.plot(out / "fit_retention.png"))
    if fit.read_disturb is not None:
        written.append(fit.read_disturb.plot(out / "fit_read_disturb.png"))
    written.append(write_text(out / "report.md", report_markdown(fit, result)))
    return written


def _ci(v: dict) -> str:
    lo, hi = v.get("ci95", (None, None))
    return f"{v['value']:.4g} (95 % {lo:.4g} .. {hi:.4g})" if lo is not None else f"{v['value']:.4g}"


def report_markdown(fit: CampaignFit, result) -> str:
    s = fit.pulse.summary()
    st = result.state
    lines = [f"# Characterization: {st['plan_name']}", "", f"Bench `{st['bench']}`, dataset `{result.db}`.", "",
             "## Steps", "", "| step | procedure | status | run | rows | wall s | bench s |",
             "|---|---|---|---|---|---|---|"]
    for k, v in st["steps"].items():
        lines.append(f"| {k} | {v['procedure']} | {v['status']} | {v.get('run_id')} | {v.get('rows')} | "
                     f"{v.get('wall_s', '')} | {v.get('bench_s', '')} |")
    lines += ["", f"## Update model: {s['model']} (method {fit.pulse.method})", "", "![fit](fit_pulse_trains.png)", "",
              "| model | AIC | BIC | RMSE | R² |", "|---|---|---|---|---|"]
    for r in s["ranking"]:
        lines.append(f"| {r['model']} | {r['aic']:.1f} | {r['bic']:.1f} | {r['rmse']:.3g} | {r['r2']:.4f} |")
    lines += ["", "| parameter | value (95 % interval) | method |", "|---|---|---|"]
    for k, v in s.get("uncertainty", {}).items():
        lines.append(f"| {k} | {_ci(v)} | {v.get('method', '')} |")
    for k, v in s.get("d2d", {}).items():
        text = (f"{v['sigma']:.3g} (95 % {v['ci95'][0]:.3g} .. {v['ci95'][1]:.3g})" if v.get("resolved")
                else f"not resolved (95 % upper bound {v.get('ci95', [0, float('nan')])[1]:.3g})")
        lines.append(f"| D2D σ {k} | {text} | {v.get('n_devices', '')} devices |")
    for k, v in (s.get("switching") or {}).get("params", {}).items():
        if isinstance(v, dict) and "value" in v:
            text = _ci(v) if v.get("resolved") else f"{v['value']:.4g} (not resolved: the base value kept)"
            lines.append(f"| switching {k} | {text} | sweep |")
    if fit.retention is not None:
        p = fit.retention.params
        lines += ["", "## Retention", "", "![retention](fit_retention.png)", ""]
        for k in ("activation_energy", "tau", "level", "state_factor"):
            if k in p and isinstance(p[k], dict) and "value" in p[k]:
                lines.append(f"- {k}: {_ci(p[k])}")
    if fit.read_disturb is not None:
        f = fit.read_disturb.factor
        lines += ["", "## Read disturb", "", "![read disturb](fit_read_disturb.png)", "",
                  f"- factor on the switching kinetics: {_ci(f)}" + ("" if f["resolved"] else " (not resolved: inherited)"),
                  f"- {f['n_devices']} devices stressed at {f['stress_voltage']} V, reads taken as {f['read_time']:g} s"]
    if fit.iv_shape is not None:
        c = fit.iv_shape.c
        lines += ["", "## I-V shape (read and energy)", "",
                  f"- {fit.iv_shape.iv}" + (f", v0 {fit.iv_shape.v0:.3g} V" if fit.iv_shape.v0 else "")
                  + f"; curvature 1/v0² {_ci(c)} V⁻² over {c['n_ramps']} ramps below {c['v_max']:.3g} V"]
    lines += ["", "## Provenance of every block", "", "| block | where it comes from |", "|---|---|"]
    for k, v in sorted((fit.device_model.provenance or {}).items()):
        lines.append(f"| {k} | {v} |")
    notes = current_notes(fit)
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
