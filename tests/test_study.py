"""Studies without Ray: the plan, the statistics, the study record, the CLI and the local queue."""

import copy
import json
import math
import statistics
import subprocess
import sys
import threading

import pytest
from conftest import ROOT, TINY

from mamlviz import records, study
from mamlviz.config import BY_NAME, ConfigError
from mamlviz.executors import LocalExecutor
from mamlviz.study_runner import run_study


def tiny_values(**changes) -> dict:
    values = {k: [v] for k, v in TINY.items()}
    values.update(alignment_points=[0], train_tasks=[10], eval_tasks=[10])
    values.update({k: v if isinstance(v, list) else [v] for k, v in changes.items()})
    return values


def test_plan_expands_every_setting_for_every_seed():
    p = study.plan(tiny_values(inner_steps=[1, 3], inner_lr=[0.1, 0.4], seed=[0, 1, 2]))
    assert p.grid == {"inner_lr": [0.1, 0.4], "inner_steps": [1, 3]} and p.seeds == [0, 1, 2]  # the table's order
    assert len(p.runs) == 12 and len({r.key for r in p.runs}) == 12
    run = next(r for r in p.runs if r.key == "inner_lr=0.1 inner_steps=3 seed=2")
    assert (run.config.inner_steps, run.config.inner_lr, run.config.seed, run.config.n_way) == (3, 0.1, 2, 5)


def test_bad_values_name_the_field_and_the_range():
    with pytest.raises(ConfigError, match="inner_steps: must be from 1 to 20, got 30"):
        study.parse_values(BY_NAME["inner_steps"], "1,30")
    with pytest.raises(ConfigError, match="inner_lr: must be a number greater than 0"):
        study.parse_values(BY_NAME["inner_lr"], "0.1,fast")
    with pytest.raises(ConfigError, match="seed: give one value or a comma list"):
        study.parse_values(BY_NAME["seed"], " , ")
    with pytest.raises(ConfigError, match=r"k_query: .* \(in the setting k_shot=6 seed=0\)"):
        study.plan(tiny_values(k_shot=[1, 6], k_query=[15]))
    with pytest.raises(ConfigError, match="at most 500 runs; 21 inner_steps x 30 seed make 630"):
        study.plan(tiny_values(inner_steps=list(range(1, 21)) + [1.5], seed=list(range(30))))
    assert study.parse_values(BY_NAME["time_budget_s"], "none,30") == [None, 30.0]
    assert len(study.plan(tiny_values(seed=[0, 0, 1])).runs) == 2  # a repeated seed is one run


def test_t_interval_matches_the_tables_and_the_formula():
    assert study.t975(1) == 12.706 and study.t975(2) == 4.303 and study.t975(30) == 2.042
    exact = {31: 2.0395, 40: 2.0211, 60: 2.0003, 120: 1.9799}  # standard tables
    assert all(abs(study.t975(df) - t) < 0.0003 for df, t in exact.items())
    s = study.stat([0.70, 0.80, 0.75])
    assert s.mean == pytest.approx(0.75) and s.n == 3
    assert s.ci95 == pytest.approx(4.303 * statistics.stdev([0.7, 0.8, 0.75]) / math.sqrt(3))
    one = study.stat([0.5])
    assert one.ci95 is None and one.n == 1
    assert study.stat([]) is None


def _fake_run(base: dict, seed: int, maml_acc: float, fomaml_acc: float, maml_s: float, fomaml_s: float) -> dict:
    r = copy.deepcopy(base)
    r["config"]["seed"] = seed
    for name, acc, secs in (("maml", maml_acc, maml_s), ("fomaml", fomaml_acc, fomaml_s)):
        r["results"][name]["test"]["accuracy"] = acc
        r["results"][name]["train_time_s"] = secs
    return r


def test_aggregate_pairs_the_variants_by_seed(tiny_record):
    p = study.plan(tiny_values(inner_steps=[1, 2], seed=[0, 1, 2]))
    accs = {0: (0.80, 0.70), 1: (0.62, 0.55), 2: (0.90, 0.79)}
    done = {f"inner_steps=1 seed={s}": _fake_run(tiny_record, s, *accs[s], 2.0 + s, 1.0) for s in accs}
    stopped = copy.deepcopy(tiny_record)
    stopped["status"] = "stopped"
    done["inner_steps=2 seed=0"] = stopped  # a stopped run never counts
    one, two = study.aggregate(p, done)
    assert one.setting == {"inner_steps": 1} and one.seeds == [0, 1, 2]
    diffs = [m - f for m, f in accs.values()]
    assert one.accuracy_diff.mean == pytest.approx(statistics.fmean(diffs))
    assert one.accuracy_diff.ci95 == pytest.approx(4.303 * statistics.stdev(diffs) / math.sqrt(3))
    assert one.maml.accuracy.mean == pytest.approx(statistics.fmean(m for m, _ in accs.values()))
    assert one.time_ratio.mean == pytest.approx(statistics.fmean([2.0, 3.0, 4.0]))
    saved = [tiny_record["results"][n]["autograd_saved_bytes"] for n in ("maml", "fomaml")]
    assert one.maml.memory_bytes.mean == saved[0] and one.memory_ratio.mean == pytest.approx(saved[0] / saved[1])
    assert two.seeds == [] and two.accuracy_diff is None and two.maml.accuracy is None
    assert one.left_out == [] and two.left_out == [
        "seed 0 (stopped)",
        "seed 1 (failed or not run)",
        "seed 2 (failed or not run)",
    ]
    assert "left out: seed 0 (stopped)" in study.verdict(records._plain(two))
    row = study.settings_rows({"settings": [records._plain(one)]})[0]
    assert row["inner_steps"] == 1 and row["seeds"] == 3
    assert row["MAML−FOMAML points"] == pytest.approx(statistics.fmean(diffs) * 100, abs=1e-3)
    assert study.verdict(records._plain(one)).startswith("second order pays off: MAML 9.3 ± 5.2 points")
    diverged = copy.deepcopy(tiny_record)
    diverged["status"] = "diverged"
    with_divergence = study.aggregate(p, {**done, "inner_steps=1 seed=2": diverged})[0]
    assert with_divergence.seeds == [0, 1] and with_divergence.left_out == ["seed 2 (diverged)"]
    mixed = _fake_run(tiny_record, 1, 0.5, 0.7, 2.0, 1.0)
    three = study.aggregate(p, {**done, "inner_steps=1 seed=1": mixed})[0]
    assert study.verdict(records._plain(three)).startswith("no clear difference")


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
        diffs = [r["results"]["maml"]["test"]["accuracy"] - r["results"]["fomaml"]["test"]["accuracy"] for r in mine]
        assert s["accuracy_diff"]["mean"] == pytest.approx(statistics.fmean(diffs))
        assert s["accuracy_diff"]["ci95"] == pytest.approx(12.706 * statistics.stdev(diffs) / math.sqrt(2))
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
    from mamlviz.study_runner import Study

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
