import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_cli

from mamlviz import RunConfig, records
from mamlviz.config import validation_errors

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "field,value,words",
    [
        ("inner_lr", -0.1, "greater than 0"),
        ("inner_lr", 0.0, "greater than 0"),
        ("outer_lr", math.nan, "finite"),
        ("inner_steps", 0, "from 1 to 20"),
        ("eval_inner_steps", 0, "from 1"),
        ("meta_batch", 0, "from 1"),
        ("n_way", 1, "from 2"),
        ("n_way", 5000, "from 2 to 100"),
        ("k_query", 16, "k_shot + k_query"),
        ("train_tasks", 8, "at least meta_batch"),
        ("device", "tpu", "auto, cpu, cuda"),
        ("seed", -1, "from 0"),
        ("time_budget_s", -5.0, "greater than 0"),
        ("inner_steps", 1.5, "whole number"),
    ],
)
def test_bad_values_name_the_field_and_range(field, value, words):
    with pytest.raises(ValueError) as e:
        RunConfig(**{field: value, **({"k_shot": 5} if field == "k_query" else {})})
    assert str(e.value).startswith(f"{field}:") and words in str(e.value)
    assert e.value.field == field


def test_all_errors_are_listed_for_the_ui():
    class Raw:
        pass

    raw = Raw()
    raw.__dict__.update({**RunConfig().to_dict(), "inner_lr": -1, "meta_batch": 0})
    assert {e.field for e in validation_errors(raw)} == {"inner_lr", "meta_batch"}


def test_config_round_trip_and_unknown_field():
    cfg = RunConfig(inner_steps=3, time_budget_s=10.0)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg and cfg.iterations == 100
    with pytest.raises(ValueError, match="bogus"):
        RunConfig.from_dict({"bogus": 1})


def test_record_round_trip(tmp_path, tiny_record):
    path = records.save(tiny_record, tmp_path / "r.json")
    assert records.load(path) == json.loads(json.dumps(tiny_record))
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize(
    "mutate,words",
    [
        (lambda t: t[: len(t) // 2], "not valid JSON"),
        (lambda t: t.replace(f'"version": {records.VERSION}', '"version": 99'), "version"),
        (lambda t: t.replace('"schema": "mamlviz.run"', '"schema": "other"'), "schema"),
        (lambda t: t.replace('"train_time_s": ', '"train_time_s": NaN, "x": ', 1), "NaN"),
        (lambda t: t.replace('"curve"', '"kurve"', 1), "curve"),
        (lambda t: "[1, 2, 3]", "JSON object"),
        (lambda t: t.replace('"status": "complete"', '"status": "great"', 1), "status"),
    ],
)
def test_corrupt_records_are_rejected_with_a_reason(tmp_path, tiny_record, mutate, words):
    bad = tmp_path / "bad.json"
    bad.write_text(mutate(records.dumps(tiny_record)))
    with pytest.raises(records.RecordError, match=words):
        records.load(bad)


def test_scan_lists_good_records_and_skips_bad_ones(tmp_path, tiny_record):
    records.save(tiny_record, tmp_path / "good.json")
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    found, skipped = records.scan(tmp_path, tmp_path / "missing")
    assert [p.name for p, _ in found] == ["good.json"]
    assert sorted(Path(s.path).name for s in skipped) == ["binary.json", "broken.json"]
    assert all(s.reason for s in skipped)


def test_save_refuses_an_invalid_record_and_keeps_the_old_file(tmp_path, tiny_record):
    path = records.save(tiny_record, tmp_path / "r.json")
    before = path.read_text()
    with pytest.raises(records.RecordError):
        records.save({**tiny_record, "version": 0}, path)
    assert path.read_text() == before


def _cli(*args, cwd=ROOT, env=None):
    return subprocess.run(
        [sys.executable, "-m", "mamlviz", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "args,words",
    [
        (["compare", "--inner-lr", "-1"], "inner_lr"),
        (["compare", "--n-way", "abc"], "invalid int"),
        (["compare", "--tasks", "4", "--meta-batch", "8"], "train_tasks"),
        (["compare", "--device", "tpu"], "device"),
        (["nonsense"], "invalid choice"),
        (["sweep", "--steps", "0,3"], "steps"),
        (["data", "build", "--from", "/nonexistent/folder"], "--from"),
    ],
)
def test_cli_bad_arguments_exit_2_with_a_message(args, words):
    r = _cli(*args)
    assert r.returncode == 2 and words in r.stderr, r.stderr


def test_cli_show_rejects_a_corrupt_record(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    r = _cli("show", str(bad))
    assert r.returncode == 2 and "schema" in r.stderr


def test_cli_compare_runs_prints_summary_and_writes_record(tmp_path):
    out = tmp_path / "run.json"
    r = _cli("compare", *tiny_cli(train_tasks=8, eval_tasks=10, eval_inner_steps=1), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "recommendation:" in r.stdout and "MAML" in r.stdout and "FOMAML" in r.stdout
    assert "MAML" in r.stderr and "it" in r.stderr  # tqdm bars
    rec = records.load(out)
    assert rec["config"]["train_tasks"] == 8
    shown = _cli("show", str(out))
    assert shown.returncode == 0 and "test accuracy" in shown.stdout


def test_one_field_table_drives_defaults_cli_flags_and_validation():
    from mamlviz.cli import build_parser
    from mamlviz.config import FIELDS

    assert [f.name for f in FIELDS] == list(RunConfig().to_dict())
    assert all(getattr(RunConfig(), f.name) == f.default for f in FIELDS)
    compare_cli = build_parser()._subparsers._group_actions[0].choices["compare"]
    flags = {a.dest: a for a in compare_cli._actions}
    for f in FIELDS:
        assert f.cli_flag in flags[f.name].option_strings and flags[f.name].default == f.default
        assert f.range_text() in flags[f.name].help.lower()
        if f.type is int:  # the table's bounds are the validator's bounds, inclusive
            RunConfig(**{f.name: int(f.hi), **({"k_query": 1} if f.name == "k_shot" else {})})
            with pytest.raises(ValueError, match=f"^{f.name}:"):
                RunConfig(**{f.name: int(f.hi) + 1})


def test_record_config_is_validated_by_runconfig(tiny_record):
    bad = json.loads(records.dumps(tiny_record))
    bad["config"]["inner_lr"] = -1
    with pytest.raises(records.RecordError, match=r"config\.inner_lr: must be greater than 0"):
        records.validate(bad)
    bad["config"] = {**tiny_record["config"], "bogus": 1}
    with pytest.raises(records.RecordError, match="config.bogus"):
        records.validate(bad)


@pytest.mark.parametrize(
    "path,words",
    [
        (("results", "maml", "diverged_at"), "'diverged_at' is a required property"),
        (("protocol", "task"), "'task' is a required property"),
        (("environment", "device_name"), "'device_name' is a required property"),
        (("setup", "launched_from"), "'launched_from' is a required property"),
        (("baseline", "per_task"), "'per_task' is a required property"),
    ],
)
def test_every_key_a_reader_uses_is_required(tiny_record, path, words):
    bad = json.loads(records.dumps(tiny_record))
    parent = bad
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    with pytest.raises(records.RecordError, match=words):
        records.validate(bad)


def test_version_1_records_are_migrated_with_measured_values_untouched(tmp_path, tiny_record):
    v1 = json.loads(records.dumps(tiny_record))
    v1["version"] = 1
    del v1["setup"]["launched_from"]
    for t in (v1["results"]["maml"]["test"], v1["results"]["fomaml"]["test"], v1["baseline"]):
        del t["over_chance"]
    (tmp_path / "old.json").write_text(json.dumps(v1))
    loaded = records.load(tmp_path / "old.json")  # migrated in memory on load
    assert loaded["version"] == records.VERSION and loaded["setup"]["launched_from"] == "unknown"
    assert loaded["results"] == json.loads(json.dumps(tiny_record["results"]))  # over_chance derived equal
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "migrate_records.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "version 1 -> 2" in r.stdout, r.stderr
    on_disk = json.loads((tmp_path / "old.json").read_text())
    assert on_disk["version"] == records.VERSION and on_disk["results"] == loaded["results"]


def test_shipped_records_are_current():
    for path in sorted((ROOT / "cached_runs").glob("*.json")):
        if path.name != "index.json":
            assert json.loads(path.read_text())["version"] == records.VERSION, path.name


def test_cli_and_dashboard_share_one_runs_folder(tmp_path, monkeypatch):
    from mamlviz import paths

    monkeypatch.delenv("MAMLVIZ_RUNS_DIR", raising=False)
    assert paths.runs_dir() == ROOT / "runs"  # the same folder wherever the command starts
    runs = tmp_path / "elsewhere-runs"
    env = {**__import__("os").environ, "MAMLVIZ_RUNS_DIR": str(runs)}
    r = _cli("compare", *tiny_cli(train_tasks=4, eval_tasks=10), "--quiet", cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    saved = list(runs.glob("*.json"))
    assert len(saved) == 1 and not (tmp_path / "runs").exists()
    assert records.load(saved[0])["setup"]["launched_from"] == "cli"
    monkeypatch.setenv("MAMLVIZ_RUNS_DIR", str(runs))
    assert paths.runs_dir() == runs


def test_per_layer_alignment_values_are_checked_too(tiny_record):
    bad = json.loads(records.dumps(tiny_record))
    bad["results"]["maml"]["alignment"]["per_layer"]["head"][0] = 10**400
    with pytest.raises(records.RecordError, match=r"per_layer\.head.*finite"):
        records.validate(bad)
