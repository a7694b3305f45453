"""The live page in a real headless Chromium (Debian's package, driven by Playwright):
points appear while a simulated pulse train runs, a closed tab changes nothing, Pause
switches the outputs off, Abort ends the run aborted with its rows, no console errors.

Skipped when no Chromium is installed (.ci/run installs it with apt-get)."""
import shutil
import threading

import pytest

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)")


def _all_off(world):
    return not any(i.outputs_on() for i in world.instruments.values()) and not world.instruments["matrix"].closed


def _rows_on_page(page) -> int:
    """The rows the page has drawn so far, read from its Bokeh document."""
    return page.evaluate("""() => {
        const doc = window.Bokeh && Bokeh.documents[0];
        if (!doc) return -1;
        const m = doc.get_model_by_name('lb-status');
        const hit = m && m.text.match(/(\\d+) rows/);
        return hit ? Number(hit[1]) : -1;
    }""")


def test_points_arrive_pause_and_abort_in_a_real_browser(tmp_path):
    from labbench.errors import Aborted
    from labbench.instruments import Bench
    from labbench.live import session
    from labbench.paths import BENCHES
    from labbench.procedures import PulseTrain
    from labbench.runner import run_procedure
    from labbench.store import Store

    live = session.start(port=0, say=lambda m: None)
    store = Store(tmp_path / "d.db")
    out = {}
    with Bench.from_yaml(BENCHES / "sim.yaml") as bench:
        live.follow_bench(bench)

        def run():
            try:
                out["result"] = run_procedure(PulseTrain(cells="0:2, 0:2", cycles=50, pulses=32), bench, store,
                                              progress=False, tap=live.feed, control=live.control)
            except BaseException as e:  # noqa: BLE001 - handed to the test
                out["error"] = e

        errors = []
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                t = threading.Thread(target=run, daemon=True)
                t.start()
                # a tab opened and closed again changes nothing
                first = browser.new_page()
                first.goto(live.url)
                first.close()
                page = browser.new_page()
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(live.url)
                page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0", timeout=30_000)
                n0 = _rows_on_page(page)
                page.wait_for_function("n => { const m = Bokeh.documents[0].get_model_by_name('lb-status');"
                                       " const h = m.text.match(/(\\d+) rows/); return h && Number(h[1]) > n; }",
                                       arg=max(n0, 0), timeout=30_000)
                assert live.control.state == "running"      # the closed tab paused nothing

                page.get_by_role("button", name="Pause").click()
                page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('lb-status')"
                                       ".text.includes('paused')", timeout=30_000)
                assert live.control.state == "paused" and _all_off(bench.world)
                assert "paused" in page.get_by_text("outputs are off").first.inner_text()

                page.get_by_role("button", name="Resume").click()
                page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('lb-status')"
                                       ".text.includes('running')", timeout=30_000)

                page.get_by_role("button", name="Abort").click()
                t.join(60)
                assert not t.is_alive()
                page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('lb-status')"
                                       ".text.includes('aborted')", timeout=30_000)
                shown = _rows_on_page(page)
            finally:
                browser.close()
        assert _all_off(bench.world)                 # every simulated output off, every relay open
    live.close()
    assert isinstance(out.get("error"), Aborted), out
    result = out["error"].result
    runs = store.runs()
    assert runs.status.tolist() == ["aborted"] and runs.reason[0] == "aborted from the live view"
    assert runs.rows[0] == len(result.data) == len(store.load(int(runs.run_id[0]))) == shown > 0
    assert errors == []
