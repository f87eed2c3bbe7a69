"""A study run here, one comparison at a time: its records, its aggregate, Stop, the CLI, show."""

import json
import math
import statistics
import subprocess
import sys
import threading

import pytest
from conftest import ROOT, tiny_values

from mamlviz import records
from mamlviz.analysis import study
from mamlviz.run.executors import LocalExecutor
from mamlviz.run.study_runner import run_study


def test_local_study_writes_its_runs_and_an_aggregate_that_the_runs_reproduce(tmp_path):
    p = study.plan(tiny_values(inner_steps=[1, 2], seed=[0, 1]))
    events = []
    executor = LocalExecutor()
    try:
        rec = run_study(
            p, tmp_path, executor, label="local", on_event=lambda e, k, pl: e != "progress" and events.append((e, k))
        )
    finally:
        executor.shutdown()
    on_disk = records.load(tmp_path / f"{rec['id']}.json")
    assert on_disk == rec and rec["kind"] == "study" and rec["status"] == "complete"
    assert rec["setup"]["executor"] == "local" and "one run at a time" in rec["protocol"]["parallel"]
    assert [r["state"] for r in rec["runs"]] == ["done"] * 4 and all(r["attempts"] == 1 for r in rec["runs"])
    runs = {r["key"]: records.load(tmp_path / r["record_file"]) for r in rec["runs"]}
    assert {r["config"]["seed"] for r in runs.values()} == {0, 1}
    assert [s["setting"] for s in rec["settings"]] == [{"inner_steps": 1}, {"inner_steps": 2}]
    for s in rec["settings"]:  # the study's numbers are the runs' numbers
        mine = [runs[study.key_of(s["setting"], seed)] for seed in (0, 1)]
        diffs = [r["results"]["fomaml"]["test"]["accuracy"] - r["results"]["maml"]["test"]["accuracy"] for r in mine]
        d = s["versus"]["fomaml"]["accuracy_diff"]
        assert d["mean"] == pytest.approx(statistics.fmean(diffs))
        assert d["ci95"] == pytest.approx(12.706 * statistics.stdev(diffs) / math.sqrt(2))
    assert sum(e == "done" for e, _ in events) == 4 and ("saved", "") in events
    assert not list(tmp_path.glob(".*tmp"))
    csv_text = study.to_csv(study.runs_rows(rec, {r["record_file"]: runs[r["key"]] for r in rec["runs"]}))
    assert csv_text.count("\n") == 5 and csv_text.startswith("inner_steps,seed,state")


def test_stopping_a_local_study_keeps_what_ran_and_cancels_the_rest(tmp_path):
    p = study.plan(tiny_values(train_tasks=[400], seed=[0, 1, 2]))
    stop = threading.Event()

    def on_event(event, key, payload):
        if event == "progress" and payload.get("phase") == "train" and payload["iteration"] >= 3:
            stop.set()

    executor = LocalExecutor()
    try:
        rec = run_study(p, tmp_path, executor, stop=stop, on_event=on_event)
    finally:
        executor.shutdown()
    assert rec["status"] == "stopped"
    assert [r["state"] for r in rec["runs"]] == ["stopped", "cancelled", "cancelled"]
    first = records.load(tmp_path / rec["runs"][0]["record_file"])
    assert first["status"] == "stopped" and first["setup"]["evaluation"] == "skipped"
    assert rec["settings"][0]["seeds"] == []  # a stopped run does not count
    assert len(list(tmp_path.glob("*.json"))) == 2  # the stopped run and the study


def test_cli_study_rejects_bad_input_before_training(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "mamlviz", "study", *args], capture_output=True, text=True, cwd=ROOT, timeout=60
        )

    bad = run("--inner-steps", "1,30", "--out", str(tmp_path))
    assert bad.returncode == 2 and "inner_steps: must be from 1 to 20, got 30" in bad.stderr
    bad = run("--seeds", "0,x", "--out", str(tmp_path))
    assert bad.returncode == 2 and "seed: must be a whole number" in bad.stderr
    (tmp_path / "file").write_text("")
    bad = run("--out", str(tmp_path / "file" / "sub"))
    assert bad.returncode == 2 and "--out" in bad.stderr and "is a file" in bad.stderr
    assert not list(tmp_path.glob("*.json"))


def test_show_prints_a_study(tmp_path, tiny_record):
    p = study.plan(tiny_values(seed=[0]))
    s = study_record_for(p, {p.runs[0].key: tiny_record})
    path = records.save(s, tmp_path / "study.json")
    out = subprocess.run(
        [sys.executable, "-m", "mamlviz", "show", str(path)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert out.returncode == 0 and "1 done of 1 runs" in out.stdout and "one seed: no interval" in out.stdout


def study_record_for(p, done: dict) -> dict:
    from mamlviz.run.study_runner import Study

    s = Study(p, LocalExecutor(), "shown", "python")
    for key, rec in done.items():
        s.done[key] = rec
        s.runs[key].state, s.runs[key].record_file, s.runs[key].attempts = "done", "x.json", 1
    s.status = "complete"
    return json.loads(json.dumps(s.record()))


def test_a_study_on_ray_without_ray_installed_says_how_to_install_it(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None; from mamlviz.cli import main; "
        f"sys.exit(main(['study', '--ray', 'local', '--out', {str(tmp_path)!r}]))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2 and "pip install -r requirements-cluster.txt" in r.stderr, r.stderr


def test_a_stopped_study_is_resumed_keeping_its_finished_runs(tmp_path):
    p = study.plan(tiny_values(seed=[0, 1, 2]))
    stop = threading.Event()
    executor = LocalExecutor()
    try:
        first = run_study(p, tmp_path, executor, stop=stop, on_event=lambda e, k, pl: e == "done" and stop.set())
    finally:
        executor.shutdown()
    assert first["status"] == "stopped" and first["runs"][0]["state"] == "done"
    kept = first["runs"][0]["record_file"]
    path = tmp_path / f"{first['id']}.json"
    r = subprocess.run(
        [sys.executable, "-m", "mamlviz", "study", "--resume", str(path), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    final = records.load(path)  # the same study record, updated in place
    assert final["id"] == first["id"] and final["status"] == "complete"
    assert [run["state"] for run in final["runs"]] == ["done"] * 3
    assert final["runs"][0]["record_file"] == kept and final["runs"][0]["attempts"] == 1  # not run again
    assert final["settings"][0]["seeds"] == [0, 1, 2]
    bad = subprocess.run(
        [sys.executable, "-m", "mamlviz", "study", "--resume", str(path), "--inner-steps", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "leave out --inner-steps" in bad.stderr
