"""End to end in a real headless Chromium: live curves update by themselves, results, Stop.

Needs Debian's chromium (/usr/bin/chromium; .ci/run installs it) and the playwright package;
playwright's own browser download does not work here, so the system browser is used.
"""

import os
import re
import shutil
import signal
import subprocess
import time

import pytest

from mamlviz.serve import dashboard

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian chromium is not installed (apt-get install -y chromium)"
)
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    with dashboard(runs) as (url, _):
        yield url, runs


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def _set(page, label, value):
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(300)


def _progress_text(page, name):
    texts = page.locator('[data-testid="stProgress"]').all_inner_texts()
    return next((t for t in texts if t.startswith(f"{name}:")), "")


def _iterations(text):
    m = re.search(r"(\d+)/(\d+) iterations", text)
    return int(m.group(1)) if m else -1


def _configure(page, train_tasks):
    page.get_by_text("Advanced").click()
    _set(page, "Meta-batch (tasks per iteration)", 2)
    _set(page, "Query images per class", 2)
    _set(page, "Evaluation tasks", 10)
    _set(page, "Inner steps at test", 1)
    _set(page, "Training tasks", train_tasks)


def test_live_run_updates_by_itself_then_shows_results(server, browser, tmp_path):
    url, runs = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_text("Run settings").wait_for(timeout=60_000)
    _configure(page, 120)  # 60 iterations per variant: long enough to watch several refreshes of both
    page.get_by_role("button", name="Start").click()
    page.wait_for_function("() => document.body.innerText.includes('it/s')", timeout=60_000)
    seen, together = set(), False
    end = time.time() + 60
    while time.time() < end and (len(seen) < 3 or not together):  # no input from here: the fragment timer redraws
        now = {name: _iterations(_progress_text(page, name)) for name in ("MAML", "FOMAML")}
        seen |= {(name, n) for name, n in now.items() if n > 0}
        together |= all(0 < n < 60 for n in now.values())  # side by side: both mid-training on one screen
        page.wait_for_timeout(250)
    assert len(seen) >= 3, f"progress did not update by itself: {seen}"
    assert together, f"the variants did not train side by side: {sorted(seen)}"
    # while training, the curves are a light SVG (both variants' polylines), redrawn by the fragment timer
    assert page.locator('[data-testid="stMarkdown"] svg polyline').count() >= 4  # raw and smoothed, both variants
    page.get_by_text("Results", exact=True).wait_for(timeout=120_000)
    page.get_by_text("training time (s)").first.wait_for(timeout=30_000)
    assert page.get_by_text("Recommendation.").count() >= 1
    page.get_by_text("Why they differ, measured on this run").first.wait_for(timeout=30_000)
    assert page.get_by_text("cosine per layer, end of training").count() >= 1
    page.screenshot(path=str(tmp_path / "results.png"), full_page=True)
    assert list(runs.glob("*.json"))


def test_the_adaptation_explorer_in_the_browser(server, browser, tmp_path):
    url, runs = server
    assert list(runs.glob("*.safetensors")), "the live run saved its networks beside its record"
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(f"{url}/adapt")
    page.get_by_text("Support set: one image per class").wait_for(timeout=60_000)
    page.get_by_text("Held-out task #1").wait_for(timeout=30_000)
    page.get_by_role("button", name="Another task").click()
    page.get_by_text("Held-out task #2").wait_for(timeout=60_000)
    page.get_by_text("Average over the run's evaluation tasks").click()
    page.get_by_text("After 1 step:").wait_for(timeout=120_000)
    page.screenshot(path=str(tmp_path / "adapt.png"), full_page=True)


def test_replay_as_a_race_animates_in_the_browser(server, browser):
    url, runs = server
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    page.goto(url)  # the latest run, with its result charts drawn just after the first paint
    page.get_by_text("Replay as a race").first.click(timeout=60_000)
    page.get_by_text("MAML finished first", exact=False).or_(page.get_by_text("FOMAML finished first")).first.wait_for(
        timeout=60_000
    )
    frames = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('.js-plotly-plot')]"
        ".map(g => (g._transitionData && g._transitionData._frames || []).length))"
    )
    assert frames >= 30, frames  # the animation lives in the browser: no server work while it plays
    points = (
        "() => Math.max(...[...document.querySelectorAll('.js-plotly-plot')].filter(g => g._transitionData && "
        "g._transitionData._frames.length).map(g => g.data[0].x.length))"
    )
    before = page.evaluate(points)
    page.get_by_text("▶ 5× faster").first.click()
    page.wait_for_timeout(1500)
    assert page.evaluate(points) > before


def test_stop_button_ends_a_second_run(server, browser):
    url, runs = server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_text("Run settings").wait_for(timeout=60_000)
    _configure(page, 4000)
    _set(page, "Evaluation tasks", 3000)  # long enough to skip
    before = set(runs.glob("*.json"))
    page.get_by_role("button", name="Start").click()
    page.wait_for_function("() => document.body.innerText.includes('it/s')", timeout=60_000)
    t0 = time.time()
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stop taken", exact=False).first.wait_for(timeout=10_000)
    print(f"stop acknowledged on the page after {time.time() - t0:.2f} s")
    page.get_by_role("button", name="Skip evaluation").click(timeout=60_000)
    page.get_by_text("Stopped early: partial results", exact=False).first.wait_for(timeout=60_000)
    assert time.time() - t0 < 60
    new = set(runs.glob("*.json")) - before
    assert len(new) == 1
    import json

    rec = json.loads(next(iter(new)).read_text())
    m, f = rec["results"]["maml"], rec["results"]["fomaml"]
    assert rec["status"] == "stopped" and 1 <= m["iterations_done"] < 2000
    assert f["status"] == "stopped" and f["iterations_done"] == m["iterations_done"]  # both partial, comparable
    assert rec["setup"]["evaluation"] == "skipped"
    # the Adaptation page opens on this stopped run and shows its partly trained networks (it once crashed here)
    page.goto(f"{url}/adapt")
    page.get_by_text("Support set: one image per class").wait_for(timeout=120_000)
    body = page.inner_text("body")
    assert "stopped at MAML" in body and "FOMAML: " in body and "Traceback" not in body and "KeyError" not in body


def test_history_sets_runs_side_by_side_each_under_a_name_of_its_own(server, browser):
    """Two runs of one label once landed on one bar and were stacked (a test accuracy of 140 %)."""
    url, runs = server
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(f"{url}/history")
    page.get_by_text("Compare side by side").wait_for(timeout=60_000)
    chart = (  # the side-by-side chart: its first panel is the test accuracy
        "[...document.querySelectorAll('.js-plotly-plot')].find(g => g.layout && (g.layout.annotations || [])"
        ".some(a => a.text === 'test accuracy (%)') && g.data.some(t => t.type === 'bar' && t.error_y))"
    )
    page.wait_for_function(f"() => !!{chart}", timeout=60_000)
    bars = page.evaluate(
        f"() => {chart}.data.filter(t => t.type === 'bar' && (t.xaxis || 'x') === 'x').map(t => ({{x: t.x, y: t.y}}))"
    )
    assert bars, "no side-by-side chart"
    for trace in bars:
        assert len(set(trace["x"])) == len(trace["x"]) >= 2, trace["x"]  # one bar per run, never two on one name
        assert all(y is None or 0 <= y <= 100 for y in trace["y"]), trace["y"]


def test_a_study_from_the_studies_page_updates_by_itself(server, browser):
    url, runs = server
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(f"{url}/study")
    page.get_by_text("Run a study here").wait_for(timeout=60_000)
    _set(page, "Training tasks per run", 4)  # 2 iterations per variant: 9 small comparisons
    _set(page, "Test tasks per run", 10)
    page.get_by_text("9 comparisons: 3 settings × 3 seeds.").wait_for(timeout=10_000)
    page.get_by_role("button", name="Start study").click()
    seen, end = set(), time.time() + 240
    while time.time() < end and page.get_by_text("Finished: study", exact=False).count() == 0:
        m = re.search(r"(\d+) of 9 comparisons ended", page.inner_text("body"))  # no input: the timer redraws
        if m:
            seen.add(int(m.group(1)))
        page.wait_for_timeout(300)
    assert page.get_by_text("Finished: study", exact=False).count() == 1, seen
    assert len(seen) >= 3, f"the study's progress did not update by itself: {sorted(seen)}"
    page.get_by_text("Complete: 9 comparisons (9 done)", exact=False).first.wait_for(timeout=30_000)
    page.get_by_text("accuracy − MAML's (points)").first.wait_for(timeout=30_000)  # the chart draws after the text
    studies = [p for p in runs.glob("*.json") if '"kind": "study"' in p.read_text()]
    assert len(studies) == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_server_stop_mid_run_saves_the_partial_record_and_exits_cleanly(browser, tmp_path, sig):
    runs = tmp_path / "runs"
    with dashboard(runs, output=subprocess.PIPE) as (url, proc):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        if sig == signal.SIGTERM:  # a fresh server's first request to a sub-page gets the app's own navigation
            page.goto(f"{url}/history")
            page.get_by_text("Run history").wait_for(timeout=60_000)
            nav = [t.split()[-1] for t in page.locator('[data-testid="stSidebarNavLink"]').all_inner_texts()]
            assert nav == ["Compare", "Theory", "Claims", "Scaling", "Adaptation", "Studies", "History"], nav
        page.goto(url)
        page.get_by_text("Run settings").wait_for(timeout=60_000)
        _configure(page, 4000)
        page.get_by_role("button", name="Start").click()
        page.wait_for_function("() => document.body.innerText.includes('it/s')", timeout=60_000)
        proc.send_signal(sig)
        rc = proc.wait(90)
        page.close()
    log = proc.stdout.read().decode()
    assert rc == 0, log[-2000:]  # before the fix: -6, "terminate called without an active exception"
    (saved,) = runs.glob("*.json")
    import json

    rec = json.loads(saved.read_text())
    assert rec["status"] == "stopped" and 1 <= rec["results"]["maml"]["iterations_done"] < 2000
    assert rec["setup"]["evaluation"] == "skipped" and rec["results"]["fomaml"]["status"] == "stopped"
    assert rec["results"]["fomaml"]["iterations_done"] == rec["results"]["maml"]["iterations_done"]
