"""Build one self-contained HTML report from what a path holds.

:func:`detect` names the kind of input; :func:`build` gathers the sections its inputs
allow (each a title, a short text, figures as ``data:`` URIs and tables) and renders
``templates/report.html.j2`` with Jinja2 (autoescaped).  Kinds:

* ``demo``: the ``labbench demo`` folder (summary.json): bench, pulse responses with the
  fit, variation, array map, training ideal beside device, summary;
* ``training``: a training run folder (metrics.csv, checkpoint.npz), with an ideal run
  beside it when there is one (``train_ideal`` next to ``train_device``);
* ``sweep``: a sweep folder (results.parquet): sweep plots, refresh comparison, table;
* ``measurement``: a run id in a dataset (``--db``): bench snapshot and the plots its
  columns allow (I-V loops, forming, pulse responses, variation, array map).
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labbench.errors import LabbenchError

from . import figures as F

KINDS = ("demo", "training", "sweep", "measurement")
ACCEPTS = ("a training run folder (holding metrics.csv), a sweep folder (holding results.parquet), "
           "the demo folder (holding summary.json), or a measurement run id (a whole number, with --db)")


class ReportError(LabbenchError, ValueError):
    """A path that is not a known input; the message says what is accepted."""


@dataclass
class Section:
    title: str
    text: str = ""
    figures: list[dict] = field(default_factory=list)      # {"src": data URI, "caption": str}
    tables: list[dict] = field(default_factory=list)       # {"columns": [...], "rows": [[...]], "caption"}
    items: list[tuple[str, str]] = field(default_factory=list)   # definition list (key, value)

    def figure(self, src: str | None, caption: str = "") -> None:
        if src:
            self.figures.append({"src": src, "caption": caption})


@dataclass
class Summary:
    """The summary table: (label, shown value, exact value, key) rows; the exact value goes
    into a ``data-value`` attribute so tests (and scripts) read the numbers back."""

    rows: list[dict] = field(default_factory=list)

    def add(self, key: str, label: str, value, fmt: str = "{}", scale: float = 1.0) -> None:
        """``fmt`` shows ``value * scale`` with its unit; the exact value stays in SI."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            shown = "—"
        else:
            shown = fmt.format(value * scale if scale != 1.0 else value)
        self.rows.append({"key": key, "label": label, "shown": shown,
                          "value": "" if value is None else repr(value) if isinstance(value, float) else str(value)})


def detect(path: str, db: str | None = None) -> str:
    p = Path(path)
    if p.is_dir():
        if (p / "summary.json").exists() and ((p / "train_device").is_dir() or (p / "labbench.db").exists()):
            return "demo"
        if (p / "results.parquet").exists():
            return "sweep"
        if (p / "metrics.csv").exists():
            return "training"
        raise ReportError(f"{p} is a folder but none of the kinds a report is made of; labbench report takes "
                          f"{ACCEPTS}")
    if str(path).strip().isdigit():
        return "measurement"
    if p.exists():
        raise ReportError(f"{p} is a file; labbench report takes {ACCEPTS}")
    raise ReportError(f"{path!r}: no such folder, and not a run id; labbench report takes {ACCEPTS}")


# -- sections ------------------------------------------------------------------------------
def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def bench_section(meta: dict) -> Section | None:
    snap = meta.get("bench")
    if not isinstance(snap, dict):
        return None
    s = Section("Bench", "The bench file, its instruments and limits, as recorded with the measurement "
                         "(the bench snapshot in the dataset).")
    if "error" in snap and len(snap) == 1:
        s.text += f" The snapshot failed: {snap['error']}"
        return s
    s.items = [("bench", str(snap.get("bench"))), ("file", str(snap.get("file"))),
               ("simulated", str(snap.get("simulated"))), ("procedure", str(meta.get("procedure", "")))]
    if meta.get("parameters"):
        s.items.append(("parameters", ", ".join(f"{k}={_fmt(v)}" for k, v in meta["parameters"].items())))
    rows = []
    for name, inst in (snap.get("instruments") or {}).items():
        rows.append([name, inst.get("driver", inst.get("model", "")), inst.get("address", ""),
                     str(inst.get("idn", inst.get("error", "")))])
    if rows:
        s.tables.append({"caption": "instruments", "columns": ["name", "driver", "address", "identity"],
                         "rows": rows})
    lim = snap.get("limits") or {}
    if lim:
        keys = sorted({k for v in lim.values() if isinstance(v, dict) for k in v})
        s.tables.append({"caption": "safety limits per terminal", "columns": ["terminal", *keys],
                         "rows": [[t, *[_fmt(v.get(k, "")) for k in keys]] for t, v in lim.items()]})
    chip = snap.get("chip") or {}
    if chip:
        s.items.append(("chip", ", ".join(f"{k}={_fmt(v)}" for k, v in chip.items() if k != "model")))
        model = chip.get("model") or {}
        if model:
            s.items.append(("chip's device model", f"{model.get('name')}: {model.get('description', '')}"))
    return s


def measurement_sections(df: pd.DataFrame, procedure: str, model=None) -> tuple[list[Section], dict]:
    """The sections one measurement's data allows; plus numbers for the summary."""
    out: list[Section] = []
    nums: dict[str, Any] = {"rows": len(df)}
    cols = set(df.columns)
    # the dataset names a procedure by its class, the CLI by its NAME
    verify = {"ProgramVerify": "program-verify", "Multilevel": "multilevel"}.get(procedure, procedure)
    if verify in ("program-verify", "multilevel"):
        return _verify_sections(df, verify, nums)
    if {"voltage", "current"} <= cols and "formed" in cols:
        s = Section("Forming", "Current against the forming ramp, per cell; the dot marks where the cell formed.")
        s.figure(F.forming(df), "forming ramps")
        formed = df[df["formed"] > 0].groupby("cell")["voltage"].min() if "cell" in df else pd.Series(dtype=float)
        if len(formed):
            nums["forming_voltage_mean"] = float(formed.mean())
        out.append(s)
    elif {"voltage", "current"} <= cols:
        s = Section("I-V loops", "Current against voltage, per cell and cycle (linear and log scale).")
        s.figure(F.iv_loops(df), "I-V loops")
        out.append(s)
    if {"direction", "pulse", "conductance"} <= cols:
        s = Section("Pulse responses", "Conductance against pulse number for every SET and RESET train "
                    "(thin lines), their mean (black) and, where a device model is given, its noise-free "
                    "response from the same start (red) with the residuals below.")
        src, rms = F.pulse_responses(df, model)
        s.figure(src, "pulse responses and residuals")
        for d, v in rms.items():
            nums[f"fit_rms_{d}"] = v
            s.items.append((f"residual RMS, {d.upper()}", f"{v * 1e6:.3g} µS"))
        out.append(s)
        ext = F.cell_extremes(df)
        v = Section("Variation", "Per cell, side and cycle: the highest conductance a SET train reached and the "
                                 "lowest a RESET train reached.")
        v.figure(F.variation(ext), "variation histograms")
        hi = ext["g_high"].dropna()
        if len(hi) > 1:
            nums["g_high_mean"], nums["g_high_cv"] = float(hi.mean()), float(hi.std() / hi.mean())
            v.items.append(("high conductance", f"{hi.mean() * 1e6:.3g} µS, spread (σ/μ) {hi.std() / hi.mean():.1%}"))
        out.append(v)
        if {"row", "col"} <= set(ext.columns) and ext["row"].nunique() * ext["col"].nunique() > 1:
            m = Section("Array map", "Mean high conductance per cell (after SET), each side of the pair.")
            m.figure(F.array_map(ext.rename(columns={"g_high": "conductance"}), title="G high"), "array map")
            out.append(m)
    elif {"row", "col", "conductance"} <= cols:
        m = Section("Array map", "Conductance per cell, each side of the pair.")
        m.figure(F.array_map(df, title="G"), "array map")
        out.append(m)
    return out, nums


def _verify_sections(df: pd.DataFrame, procedure: str, nums: dict) -> tuple[list[Section], dict]:
    """Program-verify: convergence histogram and trajectories; multilevel: the level
    distributions on a log-G axis over time and the level error map."""
    if procedure == "program-verify":
        from labbench.array.program_verify import convergence_figure

        last = df.groupby("cell").tail(1)
        s = Section("Program-verify", "Pulses each cell needed to read within tolerance of its target, and every "
                                      "cell's reads against pulse number relative to its target (band: converged).")
        s.figure(F.embed(convergence_figure(df)), "convergence")
        nums["converged_fraction"] = float((last["converged"] > 0).mean())
        nums["pulses_mean"] = float(last["pulse"].mean())
        s.items += [("cells converged", f"{100 * nums['converged_fraction']:.1f} %"),
                    ("pulses per cell", f"{nums['pulses_mean']:.1f}"),
                    ("energy per cell", f"{last['energy'].mean() * 1e12:.3g} pJ (estimated from the reads)")]
        return [s], nums
    from labbench.array import multilevel as ml

    table = ml.error_table(df)
    s = Section("Multi-level states", "Each level's conductances on a log-G axis at every re-read (dashed: targets, "
                                      "dotted: decision thresholds), and the fraction of reads decoded to another "
                                      "level against the number of levels and time.")
    top = int(df["levels"].max())
    s.figure(F.embed(ml.distributions_figure(df, top)), f"{top} levels over time")
    s.figure(F.embed(ml.error_map_figure(table)), "level error rate")
    last_time = float(table["time"].max())
    for rate in (1e-2, 1e-3):
        bits = ml.bits_per_cell(table, rate, last_time)
        nums[f"bits_per_cell_{rate:g}"] = bits
        s.items.append((f"bits per cell at level error rate {rate:g}", f"{bits:g} (up to {ml._duration(last_time)})"))
    return [s], nums


def training_section(runs: dict[str, Path]) -> tuple[Section, dict[str, pd.DataFrame]]:
    hists = {name: pd.read_csv(d / "metrics.csv") for name, d in runs.items()}
    text = ("Test and train accuracy per epoch" + (", ideal software weights beside the device in the loop."
                                                   if len(runs) > 1 else "."))
    s = Section("Training", text)
    s.figure(F.training_curves(hists), "accuracy per epoch")
    rows = []
    for name, h in hists.items():
        last = h.iloc[-1]
        rows.append([name, int(last["epoch"]), f"{100 * last['test_acc']:.2f}", f"{100 * h['test_acc'].max():.2f}",
                     f"{100 * last['train_acc']:.2f}", f"{last.get('samples_per_s', float('nan')):.0f}"])
    s.tables.append({"caption": "final epoch", "columns": ["run", "epochs", "test %", "best test %",
                                                           "train %", "samples/s"], "rows": rows})
    for name, h in hists.items():
        if "set_pulses" in h:
            s.figure(F.pulses_per_epoch(h), f"{name}: pulses per epoch")
        wear = runs[name] / "wear.json"
        if wear.exists():
            try:
                s.figure(F.wear_histogram(json.loads(wear.read_text())), f"{name}: pulses per device")
            except (ValueError, KeyError, TypeError):   # a wear file we cannot read: no histogram
                pass
        evaluated = runs[name] / "evaluation.csv"      # labbench evaluate: the network over time
        if evaluated.exists():
            try:
                from labbench.bnn.evaluate import accuracy_figure, summarize

                s.figure(F.embed(accuracy_figure(summarize(pd.read_csv(evaluated).to_dict("records")))),
                         f"{name}: accuracy against time at rest (labbench evaluate)")
            except (ValueError, KeyError, TypeError):   # an evaluation we cannot read: no figure
                pass
        ck = runs[name] / "checkpoint.npz"
        if ck.exists():
            try:
                with np.load(ck, allow_pickle=False) as f:
                    if "g_hist" in f.files:
                        s.figure(F.conductance_histograms(f["g_hist"]), f"{name}: conductances during training")
            except Exception:  # noqa: BLE001 - a checkpoint we cannot read: no histogram
                pass
    return s, hists


def sweep_sections(folder: Path) -> tuple[list[Section], Summary]:
    from labbench.sweep.plots import aggregate, plot_sweep
    from labbench.sweep.runner import read_table

    table = read_table(folder)
    raw = {}
    if (folder / "sweep.yaml").exists():
        from labbench.yamlfile import load_yaml

        raw = load_yaml((folder / "sweep.yaml").read_text()) or {}
    fields = [c for c in table.columns if c in _swept(raw)] + (["seed"] if "seed" in table else [])
    plots = raw.get("plots") or ([{"x": fields[0], **({"by": fields[1]} if len(fields) > 2 else {})}]
                                 if len(fields) > 1 else [])
    fin = table[table["status"] == "finished"] if not table.empty else table
    summary = Summary()
    name = raw.get("name", folder.name)
    summary.add("sweep", "sweep", str(name))
    summary.add("points", "points in the table", int(len(table)))
    summary.add("finished", "finished", int(len(fin)))
    summary.add("failed", "failed", int((table["status"] == "failed").sum()) if not table.empty else 0)
    s = Section(f"Sweep {name}", f"{len(table)} point(s) over {', '.join(fields)}; mean ± sd over seeds.")
    for pl in plots:
        if pl.get("x") in table and (not pl.get("by") or pl["by"] in table) and len(fin):
            fig = plot_sweep(table, fields, pl["x"], pl.get("by"), pl.get("y", "test_acc"))
            s.figure(F.embed(fig), f"{pl.get('y', 'test_acc')} vs {pl['x']}" + (f" by {pl['by']}" if pl.get("by") else ""))
    sections = [s]
    if len(fin):
        group = [f for f in fields if f != "seed"]
        agg = aggregate(table, group, "test_acc") if group else None
        if agg is not None and len(agg):
            extra = {}
            for metric in ("refresh_per_update_pulse", "seconds"):
                if metric in table:
                    extra[metric] = aggregate(table, group, metric)
            rows = []
            for i, r in agg.iterrows():
                row = [_fmt(r[f]) for f in group] + [f"{100 * r['mean']:.2f} ± {100 * r['sd']:.2f}", int(r["n"])]
                for metric, a in extra.items():
                    row.append(f"{a.iloc[i]['mean']:.3g}")
                rows.append(row)
            s.tables.append({"caption": "test accuracy per point, mean ± sd over seeds",
                             "columns": [*group, "test %", "seeds", *[{"refresh_per_update_pulse": "refresh / update "
                                                                       "pulses", "seconds": "s per point"}[m]
                                                                      for m in extra]], "rows": rows})
            best = agg.loc[agg["mean"].idxmax()]
            summary.add("best_test_acc_mean", "best point (mean test accuracy)", float(best["mean"]), "{:.2%}")
            summary.add("best_point", "best point", ", ".join(f"{f}={_fmt(best[f])}" for f in group))
        summary.add("seconds_total", "compute time, all points", float(fin["seconds"].sum()), "{:.0f} s")
        curves = _sweep_curves(folder, fin, group)
        if curves:
            s.figure(F.sweep_curves(curves), "test accuracy per epoch")
        if "refresh" in group and fin["refresh"].nunique() > 1:
            sections.append(refresh_section(table, group))
    failed = table[table["status"] == "failed"] if not table.empty else table
    if len(failed):
        f = Section("Failed points", "Each failed point with its error; running the sweep again retries them.")
        f.tables.append({"caption": "", "columns": ["point", *fields, "error"],
                         "rows": [[int(r["point"]), *[_fmt(r[c]) for c in fields], str(r["error"])]
                                  for _, r in failed.iterrows()]})
        sections.append(f)
    if not table.empty and "code_version" in table:
        s.items.append(("code version", ", ".join(sorted(set(map(str, table["code_version"]))))))
    return sections, summary


def _sweep_curves(folder: Path, fin: pd.DataFrame, group: list[str]) -> dict[str, pd.DataFrame]:
    """Per-epoch test accuracy of every finished point (its run folder's metrics.csv),
    averaged over seeds; {label: frame(epoch, mean)}."""
    frames = []
    for _, r in fin.iterrows():
        for d in (folder / "points" / str(r["point_id"]), Path(str(r.get("run_dir", "")))):
            m = d / "metrics.csv"
            if m.is_file():
                try:
                    h = pd.read_csv(m, usecols=["epoch", "test_acc"])
                except (ValueError, OSError):
                    break
                h["label"] = ", ".join(f"{f}={_fmt(r[f])}" for f in group) or "all"
                frames.append(h)
                break
    if not frames:
        return {}
    df = pd.concat(frames)
    return {k: g.groupby("epoch")["test_acc"].mean().rename("mean").reset_index()
            for k, g in df.groupby("label", sort=False)}


def refresh_section(table: pd.DataFrame, group: list[str]) -> Section:
    from labbench.sweep.plots import aggregate

    others = [g for g in group if g != "refresh"]
    acc = aggregate(table, [*others, "refresh"], "test_acc")
    s = Section("Refresh comparison", "Final test accuracy with and without refresh at the same settings "
                                      "(mean ± sd over seeds), and what refresh cost in pulses.")
    pol = sorted(acc["refresh"].unique())
    cost = aggregate(table, [*others, "refresh"], "refresh_per_update_pulse") if "refresh_per_update_pulse" in table \
        else None
    rows = []
    keys = acc[others].drop_duplicates().itertuples(index=False, name=None) if others else [()]
    for k in keys:
        sub = acc
        csub = cost
        for f, v in zip(others, k):
            sub = sub[sub[f] == v]
            csub = csub[csub[f] == v] if csub is not None else None
        row = [_fmt(v) for v in k]
        for p in pol:
            r = sub[sub["refresh"] == p]
            row.append(f"{100 * r['mean'].iloc[0]:.2f} ± {100 * r['sd'].iloc[0]:.2f}" if len(r) else "—")
        if csub is not None:
            on = csub[csub["refresh"] != "none"]
            row.append(f"{on['mean'].iloc[0]:.3f}" if len(on) else "—")
        rows.append(row)
    s.tables.append({"caption": "", "columns": [*others, *[f"refresh={p} test %" for p in pol],
                                                *(["refresh / update pulses"] if cost is not None else [])],
                     "rows": rows})
    return s


def _swept(raw: dict) -> list[str]:
    out = list((raw.get("grid") or {}).keys())
    for p in raw.get("points") or []:
        out += [k for k in p if k not in out]
    return out


# -- the kinds -----------------------------------------------------------------------------
def _training_runs(folder: Path) -> dict[str, Path]:
    """The run, and an ideal (or device) run beside it when there is one: the demo's
    ``train_device``/``train_ideal``, and the folders ``labbench train`` names
    (``train-sim-s0`` beside ``train-ideal-s0``, ``train-bench-s0`` too)."""
    import re

    runs = {folder.name: folder}
    twins = []
    for a, b in (("device", "ideal"), ("ideal", "device")):
        if folder.name.endswith(a):
            twins.append(folder.name[: -len(a)] + b)
    m = re.fullmatch(r"train-(ideal|sim|bench)-s(\d+)", folder.name)
    if m:
        twins += [f"train-{k}-s{m.group(2)}" for k in (("sim", "bench") if m.group(1) == "ideal" else ("ideal",))]
    for name in twins:
        twin = folder.with_name(name)
        if (twin / "metrics.csv").exists():
            runs[twin.name] = twin
            break
    return dict(sorted(runs.items(), key=lambda kv: "ideal" not in kv[0]))


def _inherited(runs: dict[str, Path]) -> dict[str, dict[str, str]]:
    """Per run: the blocks of the device model it trained on that were not measured
    (a fitted model's provenance: inherited from a base model), from its device_model.yaml."""
    from labbench.fitting.provenance import inherited_blocks
    from labbench.physics.device_model import DeviceModel

    out = {}
    for name, folder in runs.items():
        f = folder / "device_model.yaml"
        if f.exists():
            try:
                out[name] = inherited_blocks(DeviceModel.from_yaml(f))
            except (OSError, ValueError):
                continue   # a damaged copy: the figures stand, without the label
    return out


def _train_summary(summary: Summary, hists: dict[str, pd.DataFrame],
                   inherited: dict[str, dict[str, str]] | None = None) -> None:
    for name, h in hists.items():
        not_measured = (inherited or {}).get(name, {})
        last = h.iloc[-1]
        summary.add(f"{name}.test_acc", f"{name}: final test accuracy", float(last["test_acc"]), "{:.2%}")
        summary.add(f"{name}.epochs", f"{name}: epochs", int(last["epoch"]), "{} epochs")
        if "set_pulses" in h:
            upd = int(h["set_pulses"].sum())
            ref = int(h["refresh_set_pulses"].sum()) if "refresh_set_pulses" in h else 0
            summary.add(f"{name}.set_pulses", f"{name}: update SET pulses", upd, "{:,} pulses")
            summary.add(f"{name}.refresh_per_update_pulse", f"{name}: refresh / update pulses",
                        ref / upd if upd else float("nan"), "{:.3f}")
        pulses = float(h["set_pulses"].sum()) if "set_pulses" in h else 0.0
        if "program_energy_J" in h and pulses > 0 and float(h["program_energy_J"].sum()) == 0.0:
            # pulses with no energy: the device model has no energy block; 0 J would read as a measurement
            summary.rows.append({"key": f"{name}.program_energy_J", "label": f"{name}: programming energy",
                                 "shown": "not modelled (the device model has no energy block)", "value": ""})
        elif "program_energy_J" in h:
            # a fitted model's energy block inherited from its base model is no measurement: say so
            tag = " (energy block inherited, not measured)" if "energy" in not_measured else ""
            summary.add(f"{name}.program_energy_J", f"{name}: programming energy, all epochs{tag}",
                        float(h["program_energy_J"].sum()), "{:.3g} J")
            summary.add(f"{name}.read_energy_J", f"{name}: read energy, all epochs",
                        float(h["read_energy_J"].sum()), "{:.3g} J")
            if "refresh_energy_J" in h and h["program_energy_J"].sum() > 0:
                summary.add(f"{name}.refresh_energy_share", f"{name}: refresh share of programming energy",
                            float(h["refresh_energy_J"].sum() / h["program_energy_J"].sum()), "{:.1%}")
        if "pulses_per_cell_mean" in h:
            summary.add(f"{name}.pulses_per_cell_mean", f"{name}: pulses per device, mean",
                        float(last["pulses_per_cell_mean"]), "{:.1f} pulses")
            summary.add(f"{name}.pulses_per_cell_max", f"{name}: pulses per device, max",
                        int(last["pulses_per_cell_max"]), "{:,} pulses")
            summary.add(f"{name}.worn_fraction", f"{name}: devices worn out", float(last["worn_fraction"]), "{:.3%}")
        if "bytes_per_synapse" in h:
            prec = f" ({last['precision']})" if "precision" in h else ""
            summary.add(f"{name}.bytes_per_synapse", f"{name}: digital state kept per synapse{prec}",
                        float(last["bytes_per_synapse"]), "{:g} B")
    dev = [n for n in hists if "ideal" not in n]
    ide = [n for n in hists if "ideal" in n]
    if dev and ide:
        gap = float(hists[ide[0]].iloc[-1]["test_acc"] - hists[dev[0]].iloc[-1]["test_acc"])
        summary.add("gap_ideal_minus_device", "ideal − device (test accuracy)", gap, "{:+.2%}")


def build(path: str, db: str | None = None, model=None) -> dict:
    """The report's context: title, kind, sections, summary.  ``model`` (a DeviceModel) is
    drawn over a measurement's pulse responses, with residuals."""
    kind = detect(path, db)
    if kind == "measurement" and db is None:     # the default dataset, named (never "in None")
        from labbench.paths import default_db

        db = str(default_db())
    sections: list[Section] = []
    summary = Summary()
    p = Path(path)
    if kind == "training":
        runs = _training_runs(p)
        s, hists = training_section(runs)
        sections += [c for c in [configuration_section(runs)] if c] + [s]
        _train_summary(summary, hists, _inherited(runs))
        title = f"Training run {p.name}"
    elif kind == "sweep":
        sections, summary = sweep_sections(p)
        title = sections[0].title if sections else f"Sweep {p.name}"
    elif kind == "measurement":
        sections, summary, title = _measurement(int(str(path).strip()), db, model)
    else:
        sections, summary, title = _demo(p)
    return {"title": title, "kind": kind, "source": str(Path(path).resolve()) if kind != "measurement" else
            f"run {path} in {db}", "sections": sections, "summary": summary.rows,
            "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "version": _version()}


def _version() -> str:
    import labbench

    return labbench.__version__


def _measurement(run_id: int, db: str | None, model=None):
    from labbench.store import Store

    if db is None:
        from labbench.paths import default_db

        db = str(default_db())
    store = Store.existing(db)
    runs = store.runs()
    if run_id not in set(runs["run_id"]):
        ids = ", ".join(str(i) for i in runs["run_id"]) or "none"
        raise ReportError(f"run {run_id} is not in {db} (runs there: {ids}); labbench report takes {ACCEPTS}")
    meta = store.metadata(run_id)
    df = store.load(run_id)
    info = runs[runs["run_id"] == run_id].iloc[0]
    sections = [s for s in [bench_section(meta)] if s]
    if info["name"] == "bnn_training":
        h = df.sort_values("epoch")
        s = Section("Training", "Per-epoch metrics recorded in the dataset.")
        s.figure(F.training_curves({f"run {run_id}": h}), "accuracy per epoch")
        sections.append(s)
        summary = Summary()
        _train_summary(summary, {f"run {run_id}": h})
    else:
        ms, nums = measurement_sections(df, str(meta.get("procedure", info["name"])), model)
        sections += ms
        summary = Summary()
        for k, v in nums.items():
            label, fmt, scale = _MEASUREMENT_UNITS.get(k, (k.replace("_", " "), "{:.4g}" if isinstance(v, float)
                                                            else "{}", 1.0))
            summary.add(k, label, v, fmt, scale if isinstance(v, float) else 1.0)
    summary.rows.insert(0, {"key": "status", "label": "run status", "shown": str(info["status"]),
                            "value": str(info["status"])})
    return sections, summary, f"Measurement run {run_id}: {info['name']}"


# measurement summary rows: (label, format with its unit, scale from SI)
_MEASUREMENT_UNITS = {
    "rows": ("rows recorded", "{:,} rows", 1.0),
    "forming_voltage_mean": ("forming voltage, mean", "{:.3g} V", 1.0),
    "fit_rms_set": ("fit residual RMS, SET", "{:.3g} µS", 1e6),
    "fit_rms_reset": ("fit residual RMS, RESET", "{:.3g} µS", 1e6),
    "g_high_mean": ("high conductance, mean", "{:.3g} µS", 1e6),
    "g_high_cv": ("high conductance, spread (σ/μ)", "{:.1%}", 1.0),
}


def configuration_section(runs: dict[str, Path]) -> Section | None:
    """What each training run was: device model, network, rule, refresh, optimizer,
    learning rate, seed (from its checkpoint)."""
    from labbench.bnn.trainer import CHECKPOINT, CheckpointError, read_checkpoint

    rows = []
    keys = [("device model", lambda m, c: m.get("device_model", "")),
            ("array", lambda m, c: m.get("array", "")),
            ("network", lambda m, c: "-".join(str(x) for x in c.get("sizes", []))),
            ("mode / precision", lambda m, c: f"{c.get('mode', '')} / {c.get('precision', '')}"),
            ("update rule", lambda m, c: c.get("rule", "")),
            ("refresh", lambda m, c: c.get("refresh", "")),
            ("optimizer", lambda m, c: c.get("optimizer", "")),
            ("learning rate", lambda m, c: f"{c.get('lr', '')}" + (f" → {c['lr_end']}" if c.get("lr_end") else "")),
            ("epochs × batch", lambda m, c: f"{c.get('epochs', '')} × {c.get('batch', '')}"),
            ("seed", lambda m, c: c.get("seed", ""))]
    for name, folder in runs.items():
        try:
            meta = read_checkpoint(folder / CHECKPOINT)["meta"]
        except (CheckpointError, OSError, KeyError):
            continue
        cfg = meta.get("config", {})
        rows.append([name] + [str(get(meta, cfg)) for _, get in keys])
    if not rows:
        return None
    s = Section("Configuration", "What each run was, from its checkpoint.")
    s.tables.append({"caption": "run configuration", "columns": ["run"] + [k for k, _ in keys], "rows": rows})
    return s


def fit_section(model, path: Path) -> Section | None:
    """The fitted parameters with their 95 % intervals, the device-to-device spreads with
    whether the data resolve them, and the model ranking: from the ``fit`` block that
    ``labbench fit`` writes into the device model."""
    fit = getattr(model, "fit", None) or {}
    s = Section("Fitted model", f"{path.name}: update model {model.update.kind}, fitted from "
                                f"{fit.get('n_points', '?')} reads of {fit.get('n_devices', '?')} device(s) × "
                                f"{fit.get('n_cycles', '?')} cycle(s).  Intervals are 95 %.")
    rows = []
    for k, v in (fit.get("uncertainty") or {}).items():
        if isinstance(v, dict) and "value" in v:
            lo, hi = (v.get("ci95") or [None, None])[:2]
            rows.append([k, _fmt(v["value"]), "—" if lo is None else f"[{_fmt(lo)}, {_fmt(hi)}]",
                         _PARAM_UNITS.get(k.rsplit(".", 1)[-1], ""), str(v.get("method", ""))])
    if rows:
        s.tables.append({"caption": "fitted parameters", "columns": ["parameter", "value", "95 % interval", "unit",
                                                                    "interval from"], "rows": rows})
    d2d = []
    for k, v in (fit.get("d2d") or {}).items():
        if isinstance(v, dict) and "sigma" in v:
            lo, hi = (v.get("ci95") or [None, None])[:2]
            d2d.append([k, _fmt(v["sigma"]), "—" if lo is None else f"[{_fmt(lo)}, {_fmt(hi)}]",
                        "yes (in the model)" if v.get("resolved") else "no (left out)", str(v.get("n_devices", ""))])
    if d2d:
        s.tables.append({"caption": "device-to-device spread (σ of ln, relative)",
                         "columns": ["parameter", "σ", "95 % interval", "resolved", "devices"], "rows": d2d})
    ranking = fit.get("ranking") or []
    if ranking:
        cols = [c for c in ("model", "aic", "bic") if c in ranking[0]]
        s.tables.append({"caption": "candidate models, best first (lower AIC/BIC is better)", "columns": cols,
                         "rows": [[_fmt(r.get(c)) for c in cols] for r in ranking]})
    return s if s.tables else None


_PARAM_UNITS = {"gmin": "S", "gmax": "S", "g_min": "S", "g_max": "S", "a": "pulses", "a_set": "pulses",
                "a_reset": "pulses", "pmax": "pulses",
                "a_normalized": "", "nl": "", "c2c_rel": "", "c2c_abs": "of the range"}


def _demo(folder: Path):
    sections: list[Section] = []
    summary = Summary()
    info = json.loads((folder / "summary.json").read_text())
    db = folder / "labbench.db"
    model = None
    fitted = folder / "demo_fitted.yaml"
    if fitted.exists():
        from labbench.physics import DeviceModel

        try:
            model = DeviceModel.from_yaml(fitted)
        except ValueError:
            model = None
    data = None
    if db.exists():
        from labbench.store import Store

        store = Store.existing(db)
        runs = store.runs()
        meas = runs[runs["name"] != "bnn_training"].sort_values("run_id")
        pulse = meas[meas["name"] == "PulseTrain"]
        if len(meas):
            rid = int((pulse if len(pulse) else meas)["run_id"].iloc[0])
            meta = store.metadata(rid)
            b = bench_section(meta)
            if b:
                sections.append(b)
            data = store.load(rid)
    if data is None and (folder / "pulse_trains.csv").exists():
        data = pd.read_csv(folder / "pulse_trains.csv")
    if data is not None:
        ms, nums = measurement_sections(data, "PulseTrain", model)
        sections += ms
        summary.add("reads", "conductance reads", int(len(data)), "{:,}")
        for d in ("set", "reset"):
            if f"fit_rms_{d}" in nums:
                summary.add(f"fit_rms_{d}", f"fit residual RMS, {d.upper()}", nums[f"fit_rms_{d}"] * 1e6, "{:.3g} µS")
    if model is not None:
        summary.add("fitted_model", "fitted model", f"{model.update.kind} ({fitted.name})")
        fs = fit_section(model, fitted)
        if fs is not None:
            sections.append(fs)
    runs = {n: folder / f"train_{n}" for n in ("ideal", "device") if (folder / f"train_{n}" / "metrics.csv").exists()}
    if runs:
        s, hists = training_section(runs)
        cs = configuration_section({f"train_{k}": v for k, v in runs.items()})
        sections += ([cs] if cs else []) + [s]
        _train_summary(summary, {f"train_{k}": v for k, v in hists.items()})
    else:
        sections.append(Section("Training", "The demo did not train (MNIST was not available); its output says "
                                            "where to put MNIST."))
    if info.get("closed_loop_sign_agreement") is not None:
        summary.add("closed_loop_sign_agreement", "closed loop: signs matching the target",
                    float(info["closed_loop_sign_agreement"]), "{:.0%}")
    return sections, summary, f"labbench demo ({folder.name})"


def render(context: dict) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("labbench.report", "templates"),
                      autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**context)


def write_report(path: str, out: str | Path | None = None, db: str | None = None, model=None) -> Path:
    """Build and write the report; returns the HTML file's path (written atomically)."""
    from labbench.atomic import write_text

    ctx = build(path, db, model)
    if out is None:
        p = Path(path)
        out = (p / "report.html") if p.is_dir() else Path(f"report-run{str(path).strip()}.html")
    out = Path(out)
    if out.is_dir():
        out = out / "report.html"
    from labbench.paths import ensure_writable_file

    ensure_writable_file(out, "report")
    write_text(out, render(ctx))
    return out


__all__ = ["build", "detect", "render", "write_report", "ReportError", "KINDS"]
