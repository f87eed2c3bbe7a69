"""A study's plan, its statistics across seeds and each variant against MAML, paired by seed (no Ray, no runs)."""

import copy
import math
import statistics

import pytest
from conftest import tiny_values

from mamlviz import records, report
from mamlviz.analysis import study
from mamlviz.analysis.stats import interval, t975
from mamlviz.config import BY_NAME, ConfigError


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
    assert t975(1) == 12.706 and t975(2) == 4.303 and t975(30) == 2.042
    exact = {31: 2.0395, 40: 2.0211, 60: 2.0003, 120: 1.9799}  # standard tables
    assert all(abs(t975(df) - t) < 0.0003 for df, t in exact.items())
    mean, ci, n = interval([0.5, 0.7, 0.9, 0.6] * 25)  # the same rule for 100 test tasks as for 3 seeds
    assert n == 100 and ci == pytest.approx(t975(99) * statistics.stdev([0.5, 0.7, 0.9, 0.6] * 25) / 10)
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
    assert one.setting == {"inner_steps": 1} and one.seeds == [0, 1, 2] and one.reference == "maml"
    assert list(one.variants) == ["maml", "fomaml"] and list(one.versus) == ["fomaml"]
    vs = one.versus["fomaml"]
    diffs = [f - m for m, f in accs.values()]  # FOMAML - MAML, seed by seed
    assert vs.accuracy_diff.mean == pytest.approx(statistics.fmean(diffs))
    assert vs.accuracy_diff.ci95 == pytest.approx(4.303 * statistics.stdev(diffs) / math.sqrt(3))
    assert one.variants["maml"].accuracy.mean == pytest.approx(statistics.fmean(m for m, _ in accs.values()))
    assert vs.speedup.mean == pytest.approx(statistics.fmean([2.0, 3.0, 4.0]))
    saved = [tiny_record["results"][n]["autograd_saved_bytes"] for n in ("maml", "fomaml")]
    assert one.variants["maml"].memory_bytes.mean == saved[0]
    assert vs.memory_ratio.mean == pytest.approx(saved[0] / saved[1])
    assert two.seeds == [] and two.versus["fomaml"].accuracy_diff is None and two.variants["maml"].accuracy is None
    assert one.left_out == [] and two.left_out == [
        "seed 0 (stopped)",
        "seed 1 (failed or not run)",
        "seed 2 (failed or not run)",
    ]
    assert "left out: seed 0 (stopped)" in report.verdict(records.plain(two), "fomaml")
    row = study.settings_rows({"settings": [records.plain(one)]})[0]
    assert row["inner_steps"] == 1 and row["seeds"] == 3
    assert row["FOMAML−MAML points"] == pytest.approx(statistics.fmean(diffs) * 100, abs=1e-3)
    verdict = report.verdict(records.plain(one), "fomaml")
    assert verdict.startswith("second order pays off against FOMAML: MAML 9.3 ± 5.2 points"), verdict
    diverged = copy.deepcopy(tiny_record)
    diverged["status"] = "diverged"
    with_divergence = study.aggregate(p, {**done, "inner_steps=1 seed=2": diverged})[0]
    assert with_divergence.seeds == [0, 1] and with_divergence.left_out == ["seed 2 (diverged)"]
    mixed = _fake_run(tiny_record, 1, 0.5, 0.7, 2.0, 1.0)
    three = study.aggregate(p, {**done, "inner_steps=1 seed=1": mixed})[0]
    assert "no clear difference" in report.verdict(records.plain(three), "fomaml")


def test_speed_ratios_use_medians_and_a_busy_machine_is_said(tiny_record):
    from mamlviz.analysis.compare import compare_numbers

    busy = copy.deepcopy(tiny_record)
    m = busy["results"]["maml"]
    m["per_iteration_ms"] = 3 * m["per_iteration_ms_median"]  # a few slow iterations: the mean runs away
    vs = compare_numbers(busy).versus["fomaml"]
    f = busy["results"]["fomaml"]
    assert vs.speedup == pytest.approx(m["per_iteration_ms_median"] / f["per_iteration_ms_median"])
    words = report.warnings(busy)
    assert any("busy while MAML trained" in w and "3.0×" in w for w in words), words
    calm = copy.deepcopy(tiny_record)  # the real record may itself have met a busy moment: set it calm
    for r in calm["results"].values():
        r["per_iteration_ms"] = r["per_iteration_ms_median"]
    assert not any("busy" in w for w in report.warnings(calm))
