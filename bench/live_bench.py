"""What the live view costs a run, and how fast the page follows it, side by side in one run.

1. Pulse-then-read (visa_bench's figure: ``bench.pulse_cell`` SET then ``bench.read_cell``,
   through the unchanged drivers on benches/sim.yaml), as rows of a pulse train recorded
   into the dataset, in three arms, alternating repeats, median rate of each: without
   ``--live``; with it and no page open (what the run's process pays: server, feed,
   control); with it and a headless Chromium showing the page.  The last arm on this
   2-core machine also measures the browser taking a core from the run: ``--pin`` puts
   the run on CPU 0 and the browser on CPU 1, as a viewer on another PC would be.
2. Training samples/s (SimArray, 784-500-10, synthetic data) without and with the live view, the same way.
3. Latency: the time from a row handed to the feed until the page shows it.
4. A 10⁵-point pulse-train history: time from opening the page until it is rendered.

Without Chromium (``apt-get install chromium``), 1 and 2 run with the server up but no
page open, and 3 and 4 are skipped; the output says so.

Run: ``.venv/bin/python bench/live_bench.py [--repeats 5]``; results go to
``bench/results/live_bench.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import threading
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """A headless Chromium showing one page, on its own thread (Playwright's sync API stays
    on the thread that started it); ``call(fn)`` runs ``fn(page)`` there.  ``cpu``: the
    browser's processes run on that CPU only (taskset)."""

    def __init__(self, cpu: int | None = None):
        self.executable, self.cpu = CHROMIUM, cpu
        if cpu is not None:
            import stat
            import tempfile

            wrapper = Path(tempfile.mkdtemp()) / "chromium"
            wrapper.write_text(f'#!/bin/sh\nexec taskset -c {cpu} {CHROMIUM} "$@"\n')
            wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
            self.executable = str(wrapper)
        import queue

        self.q, self.ready = queue.Queue(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(60)

    def _run(self):
        from playwright.sync_api import sync_playwright

        if self.cpu is not None:     # Playwright's driver (node) too: it is the viewer's, not the run's
            os.sched_setaffinity(0, {self.cpu})

        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=self.executable, args=["--no-sandbox"])
            self.page = b.new_page(viewport={"width": 1200, "height": 900})
            self.ready.set()
            while True:
                fn, box, done = self.q.get()
                if fn is None:
                    break
                try:
                    box["v"] = fn(self.page)
                except Exception as e:  # noqa: BLE001
                    box["e"] = e
                done.set()
            b.close()

    def call(self, fn, timeout=120):
        box, done = {}, threading.Event()
        self.q.put((fn, box, done))
        done.wait(timeout)
        if "e" in box:
            raise box["e"]
        return box.get("v")

    def close(self):
        self.q.put((None, None, None))
        self.thread.join(30)


OPENED = "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle"
ROWS = """n => { const d = window.Bokeh && Bokeh.documents[0]; if (!d) return false;
                 const m = d.get_model_by_name('lb-status'); const h = m && m.text.match(/(\\d+) rows/);
                 return h && Number(h[1]) >= n; }"""


BUSY: dict = {}                   # arm -> per repeat {cpu: busy fraction during the timed run}
PIN: dict = {"viewer": None}      # --pin: the CPU the browser and the live server process run on


def live_start(**kw):
    """``session.start`` as ``--live`` does it; with ``--pin`` its server process goes to the
    viewer's CPU (it inherits the run's CPU when started)."""
    from labbench.live import session

    live = session.start(port=0, say=lambda m: None, **kw)
    pid = getattr(live.server, "pid", None)
    if PIN["viewer"] is not None and pid is not None:
        for tid in os.listdir(f"/proc/{pid}/task"):      # every thread: the Bokeh server's started before this
            os.sched_setaffinity(int(tid), {PIN["viewer"]})
    return live


# off: no --live; server: --live with no page open; live: --live with the page open;
# neighbour: no --live, while the browser shows a replay of a live arm's page, served and fed
# from the viewer's CPU: what the viewer's work on the other core costs this machine's run
ARMS = ("off", "server", "live", "neighbour")


def arm_order(i: int, browser) -> tuple:
    """Repeat i's arms, rotated so each arm runs in each position equally often (without
    a browser only the first two)."""
    arms = ARMS if browser is not None else ARMS[:2]
    k = i % len(arms)
    return arms[k:] + arms[:k]


class Recording:
    """A tap that records each call (time, name, arguments) on its way to the feed, and one
    snapshot of the bench's levels: a live arm's page, to be replayed by a neighbour."""

    def __init__(self, feed):
        self.feed, self.calls, self.t0 = feed, [], time.perf_counter()
        self.levels = feed.levels() if feed.levels is not None else None

    def __getattr__(self, name):
        fn = getattr(self.feed, name)

        def call(*args):
            self.calls.append((time.perf_counter() - self.t0, name, args))
            return fn(*args)

        return call

    def save(self, path: Path, info: dict) -> None:
        import pickle

        path.write_bytes(pickle.dumps({"info": info, "calls": self.calls, "levels": self.levels}))


class Neighbour:
    """``bench/live_bench.py --replay FILE`` on the viewer's CPU: a live view of its own
    (its server process inherits that CPU) replaying a recorded live arm in real time."""

    def __init__(self, recording: Path):
        import subprocess

        cpu = PIN["viewer"]
        self.proc = subprocess.Popen([sys.executable, __file__, "--replay", str(recording)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)
        self.url = self.proc.stdout.readline().strip()

    def go(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(30)


def replay_main(path: str) -> None:
    import pickle

    from labbench.live.feed import Feed

    rec = pickle.loads(Path(path).read_bytes())
    feed = Feed()
    live = live_start(feed=feed)
    if rec["levels"] is not None:
        feed.levels = lambda: rec["levels"]
    feed.expect(rec["info"])
    live.control.begin()
    print(live.url, flush=True)
    sys.stdin.readline()
    t0 = time.perf_counter()
    for t, name, args in rec["calls"]:
        wait = t0 + t - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        getattr(feed, name)(*args)
    sys.stdin.read()                     # until the bench closes it
    live.close(linger=0)


def cpu_busy() -> dict[int, tuple[int, int]]:
    """Per CPU: (busy, total) jiffies so far, from /proc/stat (what else ran beside the run)."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        name, *v = line.split()
        if name.startswith("cpu") and name != "cpu":
            v = [int(x) for x in v[:8]]
            out[int(name[3:])] = (sum(v) - v[3] - v[4], sum(v))     # idle and iowait are not busy
    return out


def busy_between(a, b) -> dict[int, float]:
    return {c: (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in a if c in b}


def measured(mode, browser, recording, info, start_live, body):
    """One arm: the view (or the neighbour) set up as ``mode`` says, then ``body(tap,
    control)`` timed (wall, and the CPU of this process: the run's)."""
    live = neighbour = None
    tap = control = None
    if mode in ("server", "live"):              # as `--live`: the page opened before the run
        live = start_live()
        live.feed.expect(info)
        tap, control = live.feed, live.control
        if mode == "live":
            open_page(browser, live.url)
    elif mode == "neighbour":
        neighbour = Neighbour(recording)
        open_page(browser, neighbour.url)
        neighbour.go()
    t0, c0, b0 = time.perf_counter(), time.process_time(), cpu_busy()
    n = body(tap, control)
    dt, dc, busy = time.perf_counter() - t0, time.process_time() - c0, busy_between(b0, cpu_busy())
    if live is not None:
        close_page(browser if mode == "live" else None, live)
    if neighbour is not None:
        browser.call(lambda pg: pg.goto("about:blank"))
        neighbour.close()
    BUSY.setdefault(mode, []).append(busy)
    return n, dt, dc


def record(browser, recording, info, start_live, body) -> None:
    """A live arm, not counted, recorded for the neighbour arm to replay."""
    live = start_live()
    live.feed.expect(info)
    open_page(browser, live.url)
    rec = Recording(live.feed)
    body(rec, live.control)
    rec.save(recording, info)
    close_page(browser, live)


def open_page(browser, url):
    if browser is not None:
        browser.call(lambda pg: (pg.goto(url), pg.wait_for_function(OPENED, timeout=60_000)))


def close_page(browser, live):
    """The browser back on a blank page (so it costs nothing in the next run without
    --live), then the server stopped."""
    if browser is not None:
        browser.call(lambda pg: pg.goto("about:blank"))
    live.close(linger=0)


def pulse_read(repeats: int, pulses: int, browser, recording: Path) -> dict:
    from labbench.instruments import Bench
    from labbench.paths import BENCHES
    from labbench.procedures import PulseTrain
    from labbench.runner import run_procedure
    from labbench.store import Store
    import tempfile

    rates = {k: [] for k in ARMS + tuple(a + "_cpu" for a in ARMS)}
    info = {"name": "PulseTrain"}
    with tempfile.TemporaryDirectory() as tmp, Bench.from_yaml(BENCHES / "sim.yaml") as bench:
        store = Store(Path(tmp) / "d.db")
        run_procedure(PulseTrain(cells="0, 0", sides="+", cycles=1, pulses=8), bench, store, progress=False)  # warm

        def start_live():
            live = live_start()
            live.follow_bench(bench)
            return live

        def body(tap, control):
            proc = PulseTrain(cells="0, 0", sides="+", cycles=1, pulses=pulses)
            return len(run_procedure(proc, bench, store, progress=False, tap=tap, control=control).data)

        if browser is not None:
            record(browser, recording, info, start_live, body)
        for i in range(repeats):
            for mode in arm_order(i, browser):
                n, dt, dc = measured(mode, browser, recording, info, start_live, body)
                rates[mode].append(n / dt)            # each row: one SET pulse, then one read
                rates[mode + "_cpu"].append(n / dc)   # the run's process (its forwarder thread included)
    return {k: r for k, r in rates.items() if r}


def training(repeats: int, browser, recording: Path) -> dict:
    from labbench.bnn.data import synthetic
    from labbench.bnn.run import TrainRun
    from labbench.bnn.spec import TrainSpec

    # 784-500-10 as the paper's network, epochs of a few seconds: the page's per-epoch and
    # one-off costs (a few tens of ms) weigh on a run of that length as on a real one, not more
    x, y, xt, yt = synthetic(784, 10, n_train=20000, n_test=500)
    rates = {k: [] for k in ARMS + tuple(a + "_cpu" for a in ARMS)}
    seed = iter(range(10_000))
    info = {"name": "bnn_training"}
    hist_box = {}

    def body(tap, control):
        run = TrainRun(TrainSpec(sizes=(784, 500, 10), epochs=2, batch=100, seed=next(seed),
                                 output={"plots": False}), progress=False, tap=tap, control=control)
        hist_box["h"] = run.run((x, y, xt, yt))
        return len(x) * len(hist_box["h"])

    if browser is not None:
        record(browser, recording, info, live_start, body)
    for i in range(repeats):
        for mode in arm_order(i, browser):
            n, dt, dc = measured(mode, browser, recording, info, live_start, body)
            rates[mode].append(statistics.mean(h["samples_per_s"] for h in hist_box["h"]))
            rates[mode + "_cpu"].append(n / dc)       # test included
    return {k: [float(v) for v in r] for k, r in rates.items() if r}


def latency(browser, points: int = 40) -> list[float]:
    from labbench.live.feed import Feed

    feed = Feed()
    feed.started({"name": "PulseTrain", "run_id": 1, "values": {"conductance": "S"}})
    live = live_start(feed=feed)
    open_page(browser, live.url)
    out = []
    for k in range(1, points + 1):
        time.sleep(0.05 + 0.013 * (k % 7))          # rows arrive at no fixed phase of the page's poll
        t0 = time.perf_counter()
        feed.rows([{"cell": 0, "direction": "set", "condition": 0, "pulse": k % 65, "conductance": 1e-5}])
        browser.call(lambda pg, k=k: pg.wait_for_function(ROWS, arg=k, timeout=10_000, polling=5))
        out.append(time.perf_counter() - t0)
    live.close(linger=0)
    return out


def history_render(browser, n: int = 100_000) -> float:
    from labbench.live.feed import Feed

    feed = Feed()
    feed.started({"name": "PulseTrain", "run_id": 1, "values": {"conductance": "S"},
                  "metadata": {"parameters": {"pulses": 64}}})
    rows, rng = [], __import__("numpy").random.default_rng(0)
    cells, per = 8, n // 16
    for cell in range(cells):
        for d in ("set", "reset"):
            for i in range(per):
                p = i % 65
                g = 1e-6 + 3e-5 * (1 - 2.718 ** (-p / 20)) if d == "set" else 3e-5 * 2.718 ** (-p / 20) + 1e-6
                rows.append({"cell": cell, "direction": d, "condition": 0, "pulse": p,
                             "conductance": g * (1 + 0.05 * rng.standard_normal())})
    feed.rows(rows)
    feed.ended("finished")
    live = live_start(feed=feed)

    def load(pg):
        pg.goto("about:blank")
        t0 = time.perf_counter()
        pg.goto(live.url)
        pg.wait_for_function(OPENED, timeout=60_000, polling=10)
        return time.perf_counter() - t0

    seconds = min(browser.call(load) for _ in range(3))
    live.close(linger=0)
    return seconds


LABEL = {"server": "--live, no page", "live": "--live, page open", "neighbour": "no --live, a replayed page open"}


def main() -> None:
    # one BLAS thread in both arms: with two, OpenBLAS threads spin-wait on each other
    # whenever any other process (a browser) holds a core, and the figure measures that
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=9, help="alternating repeats of each comparison")
    ap.add_argument("--pulses", type=int, default=1000, help="pulse-then-reads per repeat (one cell)")
    ap.add_argument("--pin", action="store_true", help="the run on CPU 0, the browser on CPU 1 (a viewer elsewhere)")
    ap.add_argument("--replay", help=argparse.SUPPRESS)       # the neighbour arm's own process
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    if args.replay:
        return replay_main(args.replay)
    if args.pin:
        os.sched_setaffinity(0, {0})
        PIN["viewer"] = 1
    browser = Browser(cpu=1 if args.pin else None) if CHROMIUM else None
    where = "a headless Chromium showing the page" if browser else "the server up, no page open (no chromium)"
    print(f"labbench live_bench — live = feed + control + Bokeh server process + {where}; "
          f"{args.repeats} alternating repeats, medians, wall clock")
    res = {"browser": bool(browser), "pinned": args.pin}
    import tempfile

    tmp = Path(tempfile.mkdtemp())
    for key, what, fn in (("pulse_then_read", "pulse-then-read/s (recorded rows)",
                           lambda: pulse_read(args.repeats, args.pulses, browser, tmp / "pulse.pkl")),
                          ("training", "training samples/s (784-500-10, SimArray, 1 BLAS thread)",
                           lambda: training(args.repeats, browser, tmp / "train.pkl"))):
        BUSY.clear()
        r = fn()
        m = {k: statistics.median(v) for k, v in r.items()}
        arms = [a for a in ARMS[1:] if a in m]
        res[key] = {"per_s": r, "median": m, **{f"ratio_{a}": m[a] / m["off"] for a in arms},
                    **{f"ratio_{a}_cpu": m[a + "_cpu"] / m["off_cpu"] for a in arms}}
        res[key]["ratio"] = res[key][f"ratio_{arms[-1] if 'live' not in arms else 'live'}"]
        busy = {a: {c: statistics.median(b[c] for b in BUSY[a]) for c in BUSY[a][0]} for a in BUSY}
        res[key]["cpu_busy"] = busy
        cpus = "/".join(f"CPU {c}" for c in sorted(busy["off"]))

        def shown(a, busy=busy):
            return "/".join(f"{100 * busy[a][c]:.0f}" for c in sorted(busy[a])) + " % busy"

        print(f"{what}: without {m['off']:.0f}  ({cpus}: {shown('off')})")
        for a in arms:
            print(f"  {LABEL[a]:32s} {m[a]:8.0f}  ratio {m[a] / m['off']:.3f} wall, "
                  f"{m[a + '_cpu'] / m['off_cpu']:.3f} per CPU-second of the run's process  ({shown(a)})")
        if "neighbour" in arms:
            res[key]["ratio_live_vs_neighbour"] = m["live"] / m["neighbour"]
            print(f"  the live view's own cost, the viewer's CPU equally busy in both: page open / replayed page "
                  f"= {m['live'] / m['neighbour']:.3f}")

    res["load_average"] = os.getloadavg()
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: wall-clock ratios on a shared "
          f"machine are as noisy as its load; the per-repeat figures are in the JSON)")
    if browser is not None:
        lat = latency(browser)
        res["latency_s"] = {"median": statistics.median(lat), "max": max(lat), "n": len(lat)}
        print(f"point -> page: median {1e3 * statistics.median(lat):.0f} ms, max {1e3 * max(lat):.0f} ms "
              f"({len(lat)} points)")
        s = history_render(browser)
        res["history_render_s"] = s
        print(f"10^5-point pulse-train history: page rendered in {s:.2f} s (best of 3)")
        browser.close()
    else:
        print("latency and history render: skipped (no chromium)")
    out = Path(__file__).resolve().parent / "results" / "live_bench.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"-> {out}")


if __name__ == "__main__":
    main()
