"""The server-wide job queue (with fake runners, no torch) and hosted mode without torch."""

import json
import subprocess
import sys
import threading
import time

import pytest
from conftest import ROOT, TINY

from mamlviz import RunConfig
from mamlviz.run.jobs import JobRegistry, rate_and_eta


def _wait(cond, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def _fake_compare(tiny_record, gate):
    def run(config, on_progress, stop, label, **options):
        on_progress(
            {
                "algorithm": "maml",
                "phase": "train",
                "iteration": 1,
                "total": 30,
                "elapsed_s": 0.1,
                "loss": 1.5,
                "accuracy": 0.3,
            }
        )
        while not gate.is_set() and not stop.is_set():
            time.sleep(0.01)
        return {
            **tiny_record,
            "id": f"{tiny_record['id']}-{label}",
            "status": "stopped" if stop.is_set() else "complete",
            "label": label,
        }

    return run


def test_one_job_at_a_time_others_queue_in_order(tmp_path, tiny_record):
    gate = threading.Event()
    reg = JobRegistry(tmp_path, run_compare=_fake_compare(tiny_record, gate))
    try:
        a = reg.submit("compare", RunConfig(**TINY), label="a", owner="s1")
        assert _wait(lambda: a.state == "running")
        b = reg.submit("compare", TINY, label="b", owner="s2")
        c = reg.submit("compare", TINY, label="c", owner="s3")
        assert reg.running() is a and b.state == "queued" and reg.position(b.id) == 1 and reg.position(c.id) == 2
        snap = a.snapshot()
        assert snap["curves"]["maml"]["loss"] == [1.5] and snap["progress"]["maml"]["iteration"] == 1
        reg.stop(c.id)
        assert c.state == "cancelled" and reg.position(c.id) is None
        gate.set()
        assert _wait(lambda: b.state == "done")
        assert a.state == "done" and a.record_path and json.loads(open(a.record_path).read())["label"] == "a"
        assert c.state == "cancelled"
    finally:
        reg.shutdown()


def test_stop_reaches_the_running_job_and_its_record_is_saved(tmp_path, tiny_record):
    reg = JobRegistry(tmp_path, run_compare=_fake_compare(tiny_record, threading.Event()))
    try:
        a = reg.submit("compare", TINY)
        assert _wait(lambda: a.state == "running")
        reg.stop(a.id)
        assert _wait(lambda: a.state == "stopped")
        assert list(tmp_path.glob("*.json"))
    finally:
        reg.shutdown()


def test_a_failing_job_is_reported_and_the_queue_goes_on(tmp_path, tiny_record):
    calls = []

    def run(config, on_progress, stop, label, **options):
        calls.append(label)
        if label == "bad":
            raise RuntimeError("boom")
        return tiny_record

    reg = JobRegistry(tmp_path, run_compare=run)
    try:
        bad, good = reg.submit("compare", TINY, label="bad"), reg.submit("compare", TINY, label="good")
        assert _wait(lambda: good.state == "done")
        assert bad.state == "failed" and "boom" in bad.error
    finally:
        reg.shutdown()


def test_submit_validates_the_config(tmp_path):
    reg = JobRegistry(tmp_path)
    try:
        with pytest.raises(ValueError, match="inner_lr"):
            reg.submit("compare", {**TINY, "inner_lr": -1})
    finally:
        reg.shutdown()


def test_rate_and_eta():
    rate, eta = rate_and_eta({"iteration": 10, "total": 30, "elapsed_s": 5.0}, {})
    assert rate == pytest.approx(2.0) and eta == pytest.approx(10.0)
    assert rate_and_eta({"iteration": 10, "total": 30, "elapsed_s": 5.0}, {"time_budget_s": 8})[1] == pytest.approx(3)
    assert rate_and_eta({"iteration": 0, "total": 30, "elapsed_s": 0}, {}) == (None, None)


HOSTED_SCRIPT = r"""
import sys
sys.modules["torch"] = None  # as if torch were not installed
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=60).run()
assert not at.exception, at.exception
start = [b for b in at.sidebar.button if b.label == "Start"][0]
assert start.disabled, "live training must be off without torch"
assert any("PyTorch is not installed" in w.value for w in at.sidebar.warning)
pages = ("views/theory.py", "views/claims.py", "views/scaling.py", "views/adapt.py", "views/study.py")
for page in (*pages, "views/history.py"):
    at.switch_page(page).run()
    assert not at.exception, (page, at.exception)
    if page == "views/claims.py":  # the tutorial's claims, from the cached records
        assert any("FOMAML is 2.88× faster" in m.value for m in at.markdown)
    if page == "views/study.py":  # the cached study is shown; running one here is off, and says why
        assert any(s.value.startswith("Complete: ") and "comparisons" in s.value for s in at.success)
        assert [b for b in at.button if b.label == "Start study"][0].disabled
        assert any("PyTorch is not installed" in e.value for e in at.error)
assert "torch" not in [m for m in sys.modules if sys.modules[m] is not None]
print("hosted-ok")
"""


def test_hosted_mode_works_without_torch(tmp_path):
    r = subprocess.run(
        [sys.executable, "-c", HOSTED_SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={**__import__("os").environ, "MAMLVIZ_RUNS_DIR": str(tmp_path)},
    )
    assert r.returncode == 0 and "hosted-ok" in r.stdout, r.stdout + r.stderr


def test_ui_modules_do_not_import_torch():
    from test_layout import modules

    ui = [m for m in modules() if not m.startswith("mamlviz.engine")]
    code = f"import sys; import {', '.join(ui)}; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


def test_a_study_job_runs_its_grid_here_one_at_a_time_and_stop_ends_it(tmp_path):
    from mamlviz import records
    from mamlviz.analysis import study

    reg = JobRegistry(tmp_path)
    cfg = RunConfig(**{**TINY, "train_tasks": 2000, "alignment_points": 0})
    try:
        job = reg.submit("study", label="stop me", plan=study.plan({"seed": [0, 1, 2]}, base=cfg))
        assert list(job.runs) == ["seed=0", "seed=1", "seed=2"]
        assert _wait(lambda: job.snapshot()["runs"]["seed=0"]["state"] == "running", timeout=60)
        assert job.snapshot()["runs"]["seed=1"]["state"] == "pending"  # here, one comparison at a time
        reg.stop(job.id)
        assert _wait(lambda: not job.active, timeout=60)
        rec = records.load(job.snapshot()["record_path"])
        assert job.state == "stopped" and rec["status"] == "stopped"
        assert [r["state"] for r in rec["runs"]] == ["stopped", "cancelled", "cancelled"]
    finally:
        reg.shutdown()


def test_validation_points_reach_the_live_chart_without_touching_the_progress_bars():
    from mamlviz.run.jobs import Job

    job = Job("compare", RunConfig(**TINY))
    job.on_progress({"algorithm": "maml", "phase": "train", "iteration": 3, "total": 30, "elapsed_s": 1.0,
                     "loss": 1.2, "accuracy": 0.4})  # fmt: skip
    job.on_progress({"algorithm": "maml", "phase": "validation", "iteration": 3, "total": 30, "elapsed_s": 1.0,
                     "validation": [3, 1.0, 0.55]})  # fmt: skip
    snap = job.snapshot()
    assert snap["validation"] == {"maml": {"iteration": [3], "time_s": [1.0], "accuracy": [0.55]}}
    assert snap["progress"]["maml"]["phase"] == "train" and snap["phase"] == "train"
