import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from mamlviz import RunConfig, records
from mamlviz.config import validation_errors


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


def test_one_field_table_drives_defaults_cli_flags_and_validation():
    from mamlviz.cli import build_parser
    from mamlviz.config import FIELDS

    assert [f.name for f in FIELDS] == list(RunConfig().to_dict())
    assert all(getattr(RunConfig(), f.name) == f.default for f in FIELDS)
    compare_cli = build_parser()._subparsers._group_actions[0].choices["compare"]
    flags = {a.dest: a for a in compare_cli._actions}
    for f in FIELDS:  # a flag left out takes the device's default config (tests/cli), named in its help
        assert f.cli_flag in flags[f.name].option_strings and flags[f.name].default is None
        assert f.range_text() in flags[f.name].help.lower() and "default" in flags[f.name].help
        if f.type is int and f.choices:  # a choice of numbers (the image size): those and no other
            assert all(getattr(RunConfig(**{f.name: c}), f.name) == c for c in f.choices)
            with pytest.raises(ValueError, match=f"^{f.name}: must be one of"):
                RunConfig(**{f.name: max(f.choices) + 1})
        elif f.type is int:  # the table's bounds are the validator's bounds, inclusive
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
    assert r.returncode == 0 and f"version 1 -> {records.VERSION}" in r.stdout, r.stderr
    on_disk = json.loads((tmp_path / "old.json").read_text())
    assert on_disk["version"] == records.VERSION and on_disk["results"] == loaded["results"]


def test_shipped_records_are_current():
    for path in sorted((ROOT / "cached_runs").glob("*.json")):
        if path.name != "index.json":
            assert json.loads(path.read_text())["version"] == records.VERSION, path.name


def test_per_layer_alignment_values_are_checked_too(tiny_record):
    bad = json.loads(records.dumps(tiny_record))
    bad["results"]["maml"]["alignment"]["variants"]["fomaml"]["per_layer"]["head"][0] = 10**400
    with pytest.raises(records.RecordError, match=r"per_layer\.head.*finite"):
        records.validate(bad)


V2 = Path(__file__).with_name("v2")  # records as version 2 wrote them (the cached runs before version 3)


def test_version_2_records_are_keyed_by_variant_with_their_measured_values_untouched(tmp_path):
    old = {name: json.loads((V2 / f"{name}.json").read_text()) for name in ("cpu_quick_demo", "study_inner_steps_cpu")}
    old["sweep"] = json.loads((V2 / "sweep_inner_lr_cpu.json").read_text())
    new = {k: records.loads(json.dumps(v)) for k, v in old.items()}  # migrated on load, then validated
    compare_old, compare_new = old["cpu_quick_demo"], new["cpu_quick_demo"]
    assert compare_new["version"] == records.VERSION and compare_new["config"]["algorithms"] == "maml,fomaml"
    for name in ("maml", "fomaml"):
        o, n = compare_old["results"][name], compare_new["results"][name]
        for key in ("train_time_s", "per_iteration_ms", "autograd_saved_bytes", "peak_memory_bytes", "test", "curve"):
            assert n[key] == o[key], (name, key)
        a_old, a_new = o["alignment"], n["alignment"]
        assert a_new["reference"] == "maml" and a_new["reference_norm"] == a_old["maml_norm"]
        g = a_new["variants"]["fomaml"]
        assert g["cosine"] == a_old["cosine"] and g["norm"] == a_old["fomaml_norm"]
        assert g["difference_norm"] == a_old["correction_norm"] and g["per_layer"] == a_old["per_layer"]
    for o, n in zip(old["sweep"]["points"], new["sweep"]["points"]):
        assert n["per_iteration_ms"] == o["per_iteration_ms"] and n["reference_norm"] == o["maml_norm"]
        if o["algorithm"] == "fomaml":
            assert (n["cosine"], n["gradient_norm"], n["difference_norm"]) == (
                o["cosine"],
                o["fomaml_norm"],
                o["correction_norm"],
            )
        else:  # the pair's cosine lives on FOMAML's point; MAML's point is the reference's own
            assert n["cosine"] is None and n["gradient_norm"] == o["maml_norm"]
    for o, n in zip(old["study_inner_steps_cpu"]["settings"], new["study_inner_steps_cpu"]["settings"]):
        assert n["variants"] == {"maml": o["maml"], "fomaml": o["fomaml"]} and n["reference"] == "maml"
        vs = n["versus"]["fomaml"]
        assert vs["accuracy_diff"]["mean"] == -o["accuracy_diff"]["mean"]  # FOMAML - MAML now
        assert vs["accuracy_diff"]["ci95"] == o["accuracy_diff"]["ci95"]
        assert vs["speedup"] == o["time_ratio"] and vs["memory_ratio"] == o["memory_ratio"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(compare_old))
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "migrate_records.py"), str(path)], capture_output=True)
    assert r.returncode == 0 and json.loads(path.read_text()) == json.loads(json.dumps(compare_new))


V3 = Path(__file__).with_name("v3")  # records as version 3 wrote them (the cached runs before version 4)


def test_version_3_records_name_their_algorithms_parts_and_nothing_else_changes():
    for name in ("compare", "sweep"):
        old = json.loads((V3 / f"{name}.json").read_text())
        new = records.loads(json.dumps(old))
        assert new["version"] == records.VERSION
        assert new["protocol"].pop("algorithms") == {
            "maml": {"second-order meta-gradient": "on"},
            "fomaml": {"second-order meta-gradient": "off (first order)"},
        }
        _drop_v5_additions(new)
        old["version"] = new["version"]
        assert new == old


def _drop_v5_additions(record: dict) -> None:
    """Take out, checking each, what version 5 adds to an older record: 28x28, transductive, no validation."""
    keys = ("image_size", "batch_norm", "validation_points", "validation_tasks")
    assert {k: record["config"].pop(k) for k in keys} == {
        "image_size": 28,
        "batch_norm": "transductive",
        "validation_points": 0,
        "validation_tasks": 32,
    }
    if record["kind"] in ("compare", "sweep"):
        assert record["protocol"].pop("validation") == "not measured"
    for result in record.get("results", {}).values():
        assert result.pop("validation") is None


V4 = Path(__file__).with_name("v4")  # records as version 4 wrote them (the cached runs before version 5)


def test_version_4_records_are_28x28_without_validation_curves_and_nothing_else_changes():
    for name in ("compare", "sweep", "study"):
        old = json.loads((V4 / f"{name}.json").read_text())
        assert old["version"] == 4
        new = records.loads(json.dumps(old))
        assert new["version"] == records.VERSION == 5
        _drop_v5_additions(new)
        old["version"] = new["version"]
        assert new == old, name


def test_a_record_with_an_unknown_algorithm_is_refused_with_its_name(tiny_record):
    bad = json.loads(records.dumps(tiny_record))
    bad["results"]["reptile2"] = {**bad["results"]["fomaml"], "algorithm": "reptile2"}
    with pytest.raises(records.RecordError, match="results.reptile2: unknown algorithm 'reptile2'"):
        records.validate(bad)
    bad = json.loads(records.dumps(tiny_record))
    bad["results"]["fomaml"]["algorithm"] = "maml"
    with pytest.raises(records.RecordError, match="results.fomaml.algorithm"):
        records.validate(bad)


def test_the_algorithms_field_takes_a_comma_list_of_known_variants():
    assert RunConfig(algorithms="fomaml, maml").algorithms == "maml,fomaml"  # one spelling: the table's order
    assert RunConfig(algorithms=["fomaml"]).variants == ["fomaml"]
    for bad, words in (("maml,reptile9", "unknown algorithm 'reptile9'"), ("", "at least one"), ("maml,maml", "once")):
        with pytest.raises(ValueError, match=words) as e:
            RunConfig(algorithms=bad)
        assert e.value.field == "algorithms"
