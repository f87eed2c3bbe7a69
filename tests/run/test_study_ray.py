"""Studies and dashboard jobs on a real local Ray runtime (ray.init(num_cpus=2)): no mocks."""

import os
import signal
import statistics
import time

import pytest
from conftest import TINY, tiny_values

from mamlviz import records, report
from mamlviz.analysis import study
from mamlviz.run.jobs import JobRegistry
from mamlviz.run.study_runner import run_study

ray = pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-cluster.txt")


@pytest.fixture(scope="module")
def executor():
    from mamlviz.run.cluster import RayExecutor

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ex = RayExecutor()  # uses the runtime above, two runs at once on one CPU each
    yield ex
    ex.shutdown()
    ray.shutdown()


def test_a_2x2_study_on_ray_survives_a_lost_worker(executor, tmp_path):
    p = study.plan(tiny_values(inner_steps=[1, 2], seed=[0, 1]))
    killed, running, most = [], set(), [0]

    def on_event(event, key, payload):
        if event == "placed":
            running.add(key)
            most[0] = max(most[0], len(running))
            if not killed:  # the first run's worker dies: Ray reports it lost, the study tries once more
                killed.append(key)
                os.kill(payload["pid"], signal.SIGKILL)
                running.discard(key)
        elif event in ("done", "retry", "failed", "cancelled"):
            running.discard(key)

    rec = run_study(p, tmp_path, executor, label="ray 2x2", on_event=on_event)
    assert rec["status"] == "complete" and rec["setup"]["executor"] == "ray"
    assert rec["setup"]["per_run"] == {"CPU": 1} and rec["setup"]["resources"]["CPU"] == 2
    assert most[0] >= 2  # comparisons ran at once (events of one poll may overlap: not an exact count)
    runs = {r["key"]: r for r in rec["runs"]}
    lost = runs[killed[0]]
    assert lost["state"] == "done" and lost["attempts"] == 2 and len(lost["errors"]) == 1
    assert "died" in lost["errors"][0].lower() or "crash" in lost["errors"][0].lower(), lost["errors"]
    assert all(r["state"] == "done" for r in rec["runs"])
    assert all(r["attempts"] == 1 for k, r in runs.items() if k != killed[0])
    assert all("CPU thread" in r["where"] for r in rec["runs"])
    on_disk = {k: records.load(tmp_path / r["record_file"]) for k, r in runs.items()}
    for s in rec["settings"]:
        assert s["seeds"] == [0, 1]
        accs = [on_disk[study.key_of(s["setting"], seed)]["results"]["maml"]["test"]["accuracy"] for seed in (0, 1)]
        assert s["variants"]["maml"]["accuracy"]["mean"] == pytest.approx(statistics.fmean(accs))
    assert records.load(tmp_path / f"{rec['id']}.json") == rec
    assert len(list(tmp_path.glob("*.json"))) == 5 and not list(tmp_path.glob(".*tmp"))


def test_a_run_that_keeps_failing_is_reported_after_two_tries(executor, tmp_path):
    p = study.plan(tiny_values(device=["cuda"]))  # no GPU here: the run raises on its worker
    events = []
    rec = run_study(p, tmp_path, executor, on_event=lambda e, k, pl: events.append((e, pl)))
    (run,) = rec["runs"]
    assert run["state"] == "failed" and run["attempts"] == 2 and len(run["errors"]) == 2
    assert "cuda" in run["error"].lower() and run["record_file"] is None
    assert [e for e, _ in events if e in ("retry", "failed")] == ["retry", "failed"]
    assert rec["settings"][0]["seeds"] == [] and "failed: seed=0 after 2 attempts" in report.study_report(rec)


def test_the_dashboards_queue_runs_jobs_at_once_on_ray(executor, tmp_path):
    reg = JobRegistry(tmp_path, executor=executor)
    cfg = {**TINY, "train_tasks": 40, "alignment_points": 0}
    a = reg.submit("compare", cfg, label="visitor a")
    b = reg.submit("compare", {**cfg, "seed": 1}, label="visitor b")
    both = False
    deadline = time.monotonic() + 120
    while (a.active or b.active) and time.monotonic() < deadline:
        both = both or (a.state == "running" and b.state == "running")
        time.sleep(0.1)
    c = reg.submit("compare", cfg, label="visitor c")
    time.sleep(0.5)
    reg.stop(c.id)
    deadline = time.monotonic() + 60
    while c.active and time.monotonic() < deadline:
        time.sleep(0.1)
    assert both and a.state == b.state == "done", (a.error, b.error)
    for job in (a, b):
        snap = job.snapshot()
        assert "CPU thread" in snap["where"] and snap["curves"]["maml"]["loss"]
        rec = records.load(snap["record_path"])
        assert rec["setup"]["launched_from"] == "dashboard"
        assert (tmp_path / rec["params_file"]["file"]).stat().st_size == rec["params_file"]["bytes"]
    assert c.state in ("cancelled", "stopped")


def test_a_killed_progress_hub_is_restarted_and_no_run_fails(executor, tmp_path):
    p = study.plan(tiny_values(seed=[0, 1]))
    killed = []

    def on_event(event, key, payload):
        if event == "placed" and not killed:  # the actor between driver and runs dies mid-study
            ray.kill(executor._hub, no_restart=False)
            killed.append(key)

    rec = run_study(p, tmp_path, executor, on_event=on_event)
    assert killed and rec["status"] == "complete", [(r["state"], r["error"]) for r in rec["runs"]]
    assert [r["state"] for r in rec["runs"]] == ["done", "done"]
