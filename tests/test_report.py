"""labbench report: one self-contained HTML file that parses, whose every image decodes,
and whose summary numbers are the run's own.  Inputs are made here at toy size (a
synthetic training run, a two-point sweep, dataset runs written directly): no MNIST."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from labbench.report import detect, write_report

VOID = {"meta", "img", "br", "hr", "link", "input", "source", "col", "area", "base", "wbr"}


class Checker(HTMLParser):
    """Tags balanced, images collected, the summary's data-value cells collected."""

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[str] = []
        self.values: dict[str, str] = {}
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag in ("script", "link") and (a.get("src") or a.get("href")):
            self.external.append(a.get("src") or a.get("href"))
        if "data-key" in a:
            self.values[a["data-key"]] = a.get("data-value", "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()


def check_html(path: Path) -> Checker:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    c = Checker()
    c.feed(text)
    c.close()
    assert not c.errors and not c.stack, (c.errors, c.stack)
    assert not c.external, f"not self-contained: {c.external}"
    assert c.images, "no figures"
    from matplotlib import image as mpimg

    for src in c.images:
        assert src.startswith("data:image/png;base64,"), src[:40]
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(io.BytesIO(raw), format="png")
        assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    return c


def sections(path: Path) -> list[str]:
    return re.findall(r"<h2>([^<]+)</h2>", path.read_text())


def train_run(folder: Path, mode: str = "device", seed: int = 0, epochs: int = 2) -> Path:
    from labbench.bnn.spec import TrainSpec
    from labbench.bnn.trainer import Trainer
    from labbench.bnn.data import synthetic

    x, y, xt, yt = synthetic(16, 4, 200, 80)
    cfg = TrainSpec(sizes=(16, 8, 4), epochs=epochs, batch=40, mode=mode, seed=seed)
    Trainer(cfg, out_dir=folder, progress=False, plots=False).fit(x, y, xt, yt)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return train_run(root / "train_device"), train_run(root / "train_ideal", mode="ideal")


def test_training_run_report_parses_and_its_numbers_are_the_runs(runs, tmp_path):
    device, ideal = runs
    out = write_report(str(device), tmp_path / "r.html")
    c = check_html(out)
    m_dev = pd.read_csv(device / "metrics.csv")
    m_ide = pd.read_csv(ideal / "metrics.csv")
    assert float(c.values["train_device.test_acc"]) == m_dev["test_acc"].iloc[-1]
    assert float(c.values["train_ideal.test_acc"]) == m_ide["test_acc"].iloc[-1]
    assert int(c.values["train_device.epochs"]) == 2
    assert int(c.values["train_device.set_pulses"]) == int(m_dev["set_pulses"].sum())
    gap = m_ide["test_acc"].iloc[-1] - m_dev["test_acc"].iloc[-1]
    assert float(c.values["gap_ideal_minus_device"]) == pytest.approx(gap)
    assert "Training" in sections(out)
    assert "ideal software weights beside the device" in out.read_text()
    # what the run kept digitally, what it cost in energy, how much it wore the devices
    assert float(c.values["train_device.bytes_per_synapse"]) == m_dev["bytes_per_synapse"].iloc[-1]
    assert float(c.values["train_device.program_energy_J"]) == pytest.approx(m_dev["program_energy_J"].sum())
    assert float(c.values["train_device.pulses_per_cell_max"]) == m_dev["pulses_per_cell_max"].iloc[-1]
    assert "train_device: pulses per device" in out.read_text()


def test_sweep_report_has_plots_refresh_comparison_and_table(tmp_path):
    from labbench.sweep import build_sweep
    from labbench.sweep.runner import run_sweep

    sw = build_sweep({"name": "rep", "data": {"kind": "synthetic", "train": 120, "test": 60},
                      "train": {"sizes": [16, 6, 4], "epochs": 1, "batch": 40},
                      "grid": {"refresh": ["threshold", "none"]}, "seeds": [0, 1]})
    table, _ = run_sweep(sw, tmp_path, workers=1, processes=False, progress=False, say=lambda m: None)
    assert detect(str(tmp_path)) == "sweep"
    r = CliRunner().invoke(__import__("labbench.cli", fromlist=["main"]).main, ["report", str(tmp_path)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "report.html"
    c = check_html(out)
    assert int(c.values["finished"]) == 4 and int(c.values["failed"]) == 0
    best = table.groupby("refresh")["test_acc"].mean().max()
    assert float(c.values["best_test_acc_mean"]) == pytest.approx(best)
    assert {"Sweep rep", "Refresh comparison"} <= set(sections(out))


def _dataset_with_measurements(db: Path) -> dict[str, int]:
    """A pulse-train, an I-V and a forming run written through the store, with a bench snapshot."""
    from labbench.store import Store

    store = Store(db)
    snap = {"bench": "test-bench", "file": "sim.yaml", "simulated": True,
            "instruments": {"smu": {"driver": "pymeasure.keithley2450", "address": "GPIB0::24::INSTR",
                                    "idn": "KEITHLEY,2450"}},
            "limits": {"smu.hi": {"max_voltage": 3.5, "max_compliance": 1e-3}},
            "chip": {"rows": 2, "cols": 2}}
    ids = {}
    rng = np.random.default_rng(0)
    rows = []
    for cell, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        for side in (0, 1):
            for cyc in range(2):
                g = 2e-6 + 38e-6 * (1 - np.exp(-np.arange(17) / 6)) * rng.uniform(0.9, 1.1)
                rows += [dict(cell=cell, row=r, col=c, side=side, cycle=cyc, direction="set", pulse=p,
                              conductance=g[p], time=0.0) for p in range(17)]
                rows += [dict(cell=cell, row=r, col=c, side=side, cycle=cyc, direction="reset", pulse=p,
                              conductance=g[-1] - (g[-1] - 2e-6) * (1 - np.exp(-p / 4)), time=0.0)
                         for p in range(17)]
    df = pd.DataFrame(rows)
    cell_idx = {"cell": "", "row": "", "col": "", "side": ""}
    with store.run("PulseTrain", {**cell_idx, "cycle": "", "direction": "text", "pulse": ""},
                   {"conductance": "S", "time": "s"},
                   metadata={"procedure": "PulseTrain", "parameters": {"pulses": 16}, "bench": snap}) as w:
        w.add(**{c: np.array(df[c].tolist()) for c in df.columns})     # text as a NumPy str array
        ids["pulse"] = w.run_id
    v = np.concatenate([np.linspace(0, 1.5, 10), np.linspace(1.5, -1.5, 20), np.linspace(-1.5, 0, 10)])
    iv = pd.DataFrame([dict(cell=0, row=0, col=0, side=0, cycle=0, step=i, voltage=x, current=x * 1e-5)
                       for i, x in enumerate(v)])
    with store.run("IVSweep", {**cell_idx, "cycle": "", "step": ""}, {"voltage": "V", "current": "A"},
                   metadata={"procedure": "IVSweep", "bench": snap}) as w:
        w.add_frame(iv)
        ids["iv"] = w.run_id
    ramp = np.linspace(1, 3, 11)
    fm = pd.DataFrame([dict(cell=0, row=0, col=0, side=0, step=i, voltage=x, current=1e-9 * x if x < 2.5 else 1e-4,
                            formed=int(x >= 2.5)) for i, x in enumerate(ramp)])
    with store.run("Forming", {**cell_idx, "step": ""}, {"voltage": "V", "current": "A", "formed": ""},
                   metadata={"procedure": "Forming", "bench": snap}) as w:
        w.add_frame(fm)
        ids["forming"] = w.run_id
    return ids


def test_measurement_run_reports(tmp_path):
    db = tmp_path / "lab.db"
    ids = _dataset_with_measurements(db)
    from labbench.physics import load_device_model

    out = write_report(str(ids["pulse"]), tmp_path / "pulse.html", str(db), load_device_model("hfox_2t2r_default"))
    c = check_html(out)
    assert {"Bench", "Pulse responses", "Variation", "Array map"} <= set(sections(out))
    assert c.values["status"] == "finished" and int(c.values["rows"]) == 4 * 2 * 2 * 34
    assert "KEITHLEY,2450" in out.read_text()
    assert float(c.values["fit_rms_set"]) > 0 and "residual RMS, SET" in out.read_text()
    out = write_report(str(ids["iv"]), tmp_path / "iv.html", str(db))
    check_html(out)
    assert "I-V loops" in sections(out)
    out = write_report(str(ids["forming"]), tmp_path / "f.html", str(db))
    c = check_html(out)
    assert "Forming" in sections(out) and float(c.values["forming_voltage_mean"]) == pytest.approx(2.6)


def test_demo_folder_report(runs, tmp_path):
    device, ideal = runs
    demo = tmp_path / "labbench-demo"
    demo.mkdir()
    shutil.copytree(device, demo / "train_device")
    shutil.copytree(ideal, demo / "train_ideal")
    db = demo / "labbench.db"
    _dataset_with_measurements(db)
    (demo / "summary.json").write_text(json.dumps({"closed_loop_sign_agreement": 0.875}))
    assert detect(str(demo)) == "demo"
    out = write_report(str(demo))
    c = check_html(out)
    assert out == demo / "report.html"
    assert {"Bench", "Pulse responses", "Variation", "Array map", "Training"} <= set(sections(out))
    assert float(c.values["closed_loop_sign_agreement"]) == 0.875
    assert float(c.values["train_device.test_acc"]) == pd.read_csv(device / "metrics.csv")["test_acc"].iloc[-1]


def test_template_escapes_what_it_shows(tmp_path):
    from labbench.report.build import Section, render

    html = render({"title": "<script>alert(1)</script>", "kind": "x", "source": "s", "created": "", "version": "0",
                   "summary": [], "sections": [Section("a<b", "<i>t</i>")]})
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "a&lt;b" in html


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed")
def test_report_renders_in_headless_chromium_without_errors(runs, tmp_path):
    device, _ = runs
    out = write_report(str(device), tmp_path / "r.html")
    r = subprocess.run([_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr",
                        "--v=0", "--dump-dom", out.resolve().as_uri()], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "<h2>Summary</h2>" in r.stdout
    # the page has no script: any console message (an error, a refused resource) is a fault
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console


def test_a_training_report_says_what_the_run_was_and_never_reads_0_J_as_a_measurement(runs, tmp_path):
    device, _ = runs
    folder = tmp_path / "train-sim-s0"          # the folder names `labbench train` gives
    shutil.copytree(device, folder)
    ideal = train_run(tmp_path / "train-ideal-s0", mode="ideal")
    m = pd.read_csv(folder / "metrics.csv")
    m["program_energy_J"] = 0.0                  # a device model with no energy block
    m.to_csv(folder / "metrics.csv", index=False)
    out = write_report(str(folder), tmp_path / "r.html")
    c = check_html(out)
    text = out.read_text()
    assert "not modelled (the device model has no energy block)" in text and "0 J" not in text
    # the ideal run of the same seed is paired with it, as the demo's are
    assert float(c.values["train-ideal-s0.test_acc"]) == pd.read_csv(ideal / "metrics.csv")["test_acc"].iloc[-1]
    assert "gap_ideal_minus_device" in c.values
    # the configuration: device model, network, rule, refresh, optimizer, learning rate, seed
    assert "Configuration" in sections(out)
    for word in ("16-8-4", "accumulate", "hfox_2t2r_default", "learning rate", "seed", "optimizer"):
        assert word in text, word
    assert "in None" not in text


def test_a_demo_report_shows_the_fitted_parameters_with_intervals_and_the_ranking(runs, tmp_path):
    from labbench.fitting import fit_device

    demo = tmp_path / "labbench-demo"
    demo.mkdir()
    (demo / "summary.json").write_text(json.dumps({}))
    _dataset_with_measurements(demo / "labbench.db")
    from labbench.fitting.sample import generate

    fit_device(generate(rows=4, cols=2, cycles=2), model="auto", name="demo_fitted").to_yaml(demo / "demo_fitted.yaml")
    out = write_report(str(demo))
    check_html(out)
    text = out.read_text()
    assert "Fitted model" in sections(out)
    assert "95 % interval" in text and "candidate models, best first" in text


def test_a_measurement_summary_has_units(tmp_path):
    db = tmp_path / "lab.db"
    ids = _dataset_with_measurements(db)
    out = write_report(str(ids["pulse"]), tmp_path / "p.html", str(db))
    c = check_html(out)
    text = out.read_text()
    assert "rows recorded" in text and " rows<" in text.replace("</td>", "<")
    assert "µS" in text and float(c.values["g_high_mean"]) < 1e-3       # exact value in siemens
