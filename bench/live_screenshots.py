"""The live page's screenshots in docs/ (a pulse train, a training run), taken the way a
user sees them: a headless Chromium showing the page while the run goes on.

Run: ``.venv/bin/python bench/live_screenshots.py`` (needs ``chromium``; training uses
MNIST from ``$LABBENCH_MNIST`` when it is there, else the synthetic task).
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DOCS = Path(__file__).resolve().parents[1] / "docs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ROWS = """n => { const m = Bokeh.documents[0].get_model_by_name('lb-status');
                 const h = m && m.text.match(/(\\d+) rows/); return h && Number(h[1]) >= n; }"""


def shoot(live, run, rows: int, path: Path, viewport=(1200, 900)) -> None:
    from playwright.sync_api import sync_playwright

    out = {}
    t = threading.Thread(target=lambda: out.setdefault("r", run()), daemon=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = b.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        page.goto(live.url)
        page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=60_000)
        t.start()
        page.wait_for_function(ROWS, arg=rows, timeout=600_000, polling=200)
        time.sleep(1.2)                      # one more poll, then the drawing settles
        page.screenshot(path=str(path), full_page=True)
        b.close()
    live.control.abort()
    t.join(120)
    print(f"-> {path}")


def pulse_train() -> None:
    from labbench.instruments import Bench
    from labbench.live import session
    from labbench.procedures import PulseTrain
    from labbench.runner import run_procedure
    from labbench.store import Store

    live = session.start(port=0, say=lambda m: None)
    with tempfile.TemporaryDirectory() as tmp, Bench.from_yaml("sim") as bench:
        live.follow_bench(bench)
        proc = PulseTrain(cells="0:2, 0:2", sides="+-", cycles=3, pulses=64)
        live.feed.expect({"name": "PulseTrain"})

        def run():
            try:
                return run_procedure(proc, bench, Store(Path(tmp) / "d.db"), progress=False, tap=live.feed,
                                     control=live.control)
            except KeyboardInterrupt:
                return None

        shoot(live, run, 1400, DOCS / "live-pulse-train.png")
    live.close(linger=0)


def training() -> None:
    from labbench.bnn.run import TrainRun
    from labbench.bnn.spec import TrainSpec
    from labbench.live import session

    try:
        from labbench.bnn.mnist import load_mnist

        m = load_mnist(None)
        data = (m.x_train[:12000], m.y_train[:12000], m.x_test, m.y_test)
    except Exception:  # noqa: BLE001 - no MNIST here: the synthetic task
        from labbench.bnn.data import synthetic

        data = synthetic(784, 10, n_train=12000, n_test=2000)
    live = session.start(port=0, say=lambda m: None)
    live.feed.expect({"name": "bnn_training"})
    train = TrainRun(TrainSpec(sizes=(784, 200, 10), epochs=8, batch=100, output={"plots": False}),
                     progress=False, tap=live.feed, control=live.control)

    def run():
        try:
            return train.run(data)
        except KeyboardInterrupt:
            return None

    shoot(live, run, 6, DOCS / "live-training.png", viewport=(1350, 900))
    live.close(linger=0)


if __name__ == "__main__":
    if CHROMIUM is None:
        sys.exit("no chromium on PATH (apt-get install chromium)")
    pulse_train()
    training()
