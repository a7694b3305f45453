"""Fits of the shared real data sets, compared with their published fits.

``python -m labbench.fitting.reference_fits`` rewrites ``device_models/ag_asi_neurosim.yaml``,
``device_models/gong2018_hfo2_{expstep,softbounds}.yaml`` and
``device_models/crosssim_rram.yaml`` and prints each fit beside the published one.
The comparison goes into each model's ``fit:`` block (``published`` and ``discussion``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from labbench.paths import DEVICE_MODELS
from labbench.physics.models import RESET, SET

from . import datasets
from .api import FitResult, fit_device

AG_ASI_LTP_DISCUSSION = (
    "NeuroSim's published A (0.5 LTP, -0.2 LTD; labels +2.40 / -4.88) is a hand fit (manual section 5.2: A is tuned "
    "by eye against one noisy realization of the script's simulation, seeds rng(103) / rng(898)). NeuroSim's "
    "procedure with least squares in place of the eye (labbench.fitting.neurosim_nl: LTD mirrored, P / floor(max P), "
    "G to [0, 1] by the curve's own min and max) gives LTP +1.20 (A 1.03), LTD -4.04 (A -0.265); at the published A "
    "the normalized RMSE is 1.32x (LTP) and 1.74x (LTD) the least-squares one. The device model's own fit frees the "
    "end points (LTP A 2.4, label +0.52): the first LTP read sits well below the start of the rest of the curve, and "
    "pinning the curve to it, as NeuroSim's normalization does, bends it more. Both curves' residuals are strongly "
    "structured (LTP 20 sign runs in 91 reads for this model, expected 46) for every candidate model, and one "
    "digitized trace with autocorrelated residuals leaves the label wide: LTP +1.20 (95 % about 0.6 to 2.4), "
    "LTD -4.04 (-4.85 to -3.91); the published labels sit at the edges.")


def _with_fit_extras(result: FitResult, extras: dict) -> FitResult:
    dm = result.device_model
    fit = dict(dm.fit or {})
    fit.update(extras)
    result.device_model = dm.model_copy(update={"fit": fit})
    return result


def ag_asi() -> tuple[FitResult, pd.DataFrame]:
    r = fit_device(datasets.ag_asi(), model="neurosim", name="ag_asi_neurosim",
                   source="shared/data/devices/neurosim_ag_asi (Jo et al., Nano Lett. 2010; NeuroSim nonlinear_fit.m)")
    s = r.summary()["directions"]
    ns = r.neurosim_nl   # the same traces by NeuroSim's own procedure (labbench.fitting.neurosim_nl)
    table = pd.DataFrame({
        "direction": ["set (LTP)", "reset (LTD)"],
        "a_normalized_ours": [s["set"]["a_normalized"], s["reset"]["a_normalized"]],
        "a_normalized_published": [0.5, -0.2],
        "nl_ours": [s["set"]["nl"], s["reset"]["nl"]],
        "nl_neurosim_procedure": [ns["set"]["nl"], ns["reset"]["nl"]],
        "nl_neurosim_ci95": [tuple(round(v, 2) for v in ns[d]["ci95"]) for d in ("set", "reset")],
        "nl_published": [2.40, -4.88],
        "pmax": [s["set"]["pmax"], s["reset"]["pmax"]],
    })
    r = _with_fit_extras(r, {"published": {"source": "NeuroSim V3.0 manual §5.2, nonlinear_fit.m", "a_normalized":
                                           {"set": 0.5, "reset": -0.2}, "nl": {"set": 2.40, "reset": -4.88},
                                           "pmax": {"set": 97, "reset": 100}, "c2c": {"set": 0.035, "reset": 0.025}},
                             "discussion": AG_ASI_LTP_DISCUSSION})
    r.device_model = r.device_model.model_copy(update={
        "description": "Ag:a-Si memristor (Jo et al. 2010), NeuroSim model fitted by labbench to NeuroSim's example data",
        "references": ["S. H. Jo et al., Nano Lett. 10(4), 1297-1301 (2010)",
                       "P.-Y. Chen, X. Peng, S. Yu, MLP+NeuroSim V3.0 user manual (2018)"]})
    return r, table


def gong2018(kind: str) -> tuple[FitResult, pd.DataFrame]:
    """Fit exp-step or soft bounds to Gong 2018 (aihwkit weight units) beside aihwkit's preset."""
    pub = datasets.gong2018_published()
    preset = pub["ReRamESPresetDevice" if kind == "expstep" else "ReRamSBPresetDevice"]
    r = fit_device(datasets.gong2018(), model=kind, name=f"gong2018_hfo2_{kind}", allow_negative=True,
                   source="shared/data/devices/aihwkit_gong2018_hfo2 (aihwkit examples/csv/gong_et_al.csv)")
    ours = r.device_model.update.to_aihwkit(scale=1.0)  # the data are already in weight units
    keys = [k for k in ours if k in preset]
    table = pd.DataFrame({"parameter": keys, "ours": [ours[k] for k in keys], "aihwkit_preset": [preset[k] for k in keys]})
    # parameters of exp-step trade off: the step sizes they imply are the comparable quantity
    from labbench.physics.models import model_class

    preset_model = model_class(kind)(**{k: preset[k] for k in keys if k != "dw_min_std"})
    w = np.array([-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75])
    steps = pd.DataFrame({f"{name}_step_at_w={v:+.2f}": [float(m.mean_step(np.array([v]), d)[0])
                                                        for m in (r.device_model.update, preset_model)]
                          for d, name in ((SET, "up"), (RESET, "down")) for v in w}, index=["ours", "aihwkit_preset"])
    steps = steps.T.reset_index().rename(columns={"index": "parameter"})
    table = pd.concat([table, steps], ignore_index=True)
    r = _with_fit_extras(r, {
        "units": "aihwkit weight units (the CSV is normalized, not siemens)",
        "published": {"source": f"aihwkit presets {preset['source']}",
                      **{k: preset[k] for k in keys}},
        "discussion": ("aihwkit does not say its presets were fitted to this CSV; they are a loose reference. "
                       "Exp-step parameters are not unique (a, b and gamma trade off); compare the step-size "
                       "curves, not single numbers. dw_min_std here is the relative step noise estimated from the "
                       "residuals, which on these heavily read-noise-dominated data is poorly determined.")})
    r.device_model = r.device_model.model_copy(update={
        "description": f"HfO2 ReRAM (Gong et al. 2018), aihwkit {kind} model fitted by labbench, weight units",
        "references": ["N. Gong et al., Nat. Commun. 9, 2102 (2018)", "IBM aihwkit, examples/csv/gong_et_al.csv"]})
    return r, table


def crosssim() -> tuple[FitResult, pd.DataFrame]:
    """Per-cycle fits of the CrossSim ramps and their cycle-to-cycle statistics."""
    r = fit_device(datasets.crosssim(), model="auto", name="crosssim_rram",
                   source="shared/data/devices/crosssim_example_rram (Sandia CrossSim 2.0 lookup-table example)")
    stats = cycle_statistics(r)
    r = _with_fit_extras(r, {"per_cycle": stats.to_dict(orient="records"),
                             "discussion": "No published fit exists; per-cycle statistics characterize ramp-to-ramp "
                                           "variation of one device (the device is not named in the source)."})
    r.device_model = r.device_model.model_copy(update={
        "description": "Unnamed Sandia RRAM (CrossSim example ramps), fitted by labbench",
        "references": ["Sandia CrossSim 2.0, examples/lookup_table_generation/lookup_table_example"]})
    return r, stats


def cycle_statistics(result: FitResult) -> pd.DataFrame:
    """Per-direction statistics of the per-cycle fits: mean, σ and CV of range and curvature."""
    from .trajectories import fit_neurosim

    rows = []
    for d, tr in ((SET, None), (RESET, None)):
        f = result.fits[(result.kind, d, "pooled")]
        # one unit per ramp: refit the closed form per cycle for comparable numbers across kinds
        g, p = f.g.reshape(-1, 1, f.g.shape[-1]), f.p.reshape(-1, 1, f.p.shape[-1])
        keep = np.isfinite(g[:, 0, 0])
        fc = fit_neurosim(g[keep], p[keep], d, f.norm, f.pmax, "cycle")
        lo = f.norm.g(np.minimum(fc.params["x_start"], fc.params["x_end"]))
        hi = f.norm.g(np.maximum(fc.params["x_start"], fc.params["x_end"]))
        a_norm = 1.0 / fc.params["c"]
        for name, v in (("g_low_S", lo), ("g_high_S", hi), ("range_S", hi - lo), ("a_normalized", a_norm),
                        ("rmse_S", fc.rmse)):
            rows.append({"direction": "set" if d == SET else "reset", "quantity": name, "n_cycles": int(v.size),
                         "mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)),
                         "cv": float(np.std(v, ddof=1) / abs(np.mean(v))) if np.mean(v) else float("nan")})
    return pd.DataFrame(rows)


def write_all() -> None:
    with pd.option_context("display.width", 140, "display.max_columns", 12):
        r, t = ag_asi()
        r.to_yaml(DEVICE_MODELS / "ag_asi_neurosim.yaml")
        print("Ag:a-Si (NeuroSim):\n", t.to_string(index=False), "\n")
        for kind in ("expstep", "softbounds"):
            r, t = gong2018(kind)
            r.to_yaml(DEVICE_MODELS / f"gong2018_hfo2_{kind}.yaml")
            print(f"Gong 2018 {kind}, ours beside aihwkit's preset:\n", t.to_string(index=False), "\n")
        r, t = crosssim()
        r.to_yaml(DEVICE_MODELS / "crosssim_rram.yaml")
        print(f"CrossSim ramps: chosen {r.kind}; per-cycle statistics:\n", t.to_string(index=False))


if __name__ == "__main__":
    write_all()
