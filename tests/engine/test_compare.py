import json
import math

import pytest
import torch
from conftest import TINY

from mamlviz import RunConfig, compare, records, report
from mamlviz.analysis.compare import compare_numbers
from mamlviz.engine import measure, meta, model, sweep
from mamlviz.engine.data import load_data
from mamlviz.engine.model import OmniglotCNN
from mamlviz.engine.seed_api import train_maml
from mamlviz.engine.step import MetaStep
from mamlviz.engine.tasks import TaskSampler


def test_tiny_comparison_learns_and_is_fully_measured(tiny_record):
    r = tiny_record
    assert r["status"] == "complete" and r["kind"] == "compare"
    base = r["baseline"]["accuracy"]
    for name in ("maml", "fomaml"):
        res = r["results"][name]
        assert res["status"] == "complete" and res["iterations_done"] == 30
        assert res["train_time_s"] > 0 and res["per_iteration_ms"] > 0 and res["peak_memory_bytes"] >= 0
        assert len(res["curve"]["loss"]) == 30 and res["curve"]["time_s"] == sorted(res["curve"]["time_s"])
        assert res["test"]["tasks"] == 20 and len(res["test"]["per_task"]) == 20
        # meta-training beats the un-meta-trained initialisation adapted the same way
        assert res["test"]["accuracy"] > base, (name, res["test"]["accuracy"], base)
    assert r["chance"] == pytest.approx(0.2)
    assert r["environment"]["device"] == "cpu" and r["environment"]["torch"] == torch.__version__
    assert r["protocol"]["test_inner_steps"] == 2 and "transductive" in r["protocol"]["batch_norm"]
    assert r["setup"]["path"] in ("loop", "threads", "vmap", "tasks")  # whichever was measured fastest here
    json.dumps(r, allow_nan=False)


def test_same_task_stream_for_both_algorithms(tiny_record):
    # both start from the same init and see the same first meta-batch: equal first-iteration query loss
    m, f = tiny_record["results"]["maml"]["curve"], tiny_record["results"]["fomaml"]["curve"]
    assert m["loss"][0] == pytest.approx(f["loss"][0], rel=1e-5)


def test_summary_words_and_recommendation_come_from_the_numbers(tiny_record):
    c = compare_numbers(tiny_record)
    m, f = tiny_record["results"]["maml"], tiny_record["results"]["fomaml"]
    vs = c.versus["fomaml"]
    assert c.reference == "maml" and list(c.versus) == ["fomaml"]
    assert vs.speedup == pytest.approx(m["per_iteration_ms_median"] / f["per_iteration_ms_median"])  # medians
    assert vs.paired
    pm, pf = m["test"]["per_task"], f["test"]["per_task"]
    assert vs.accuracy_diff == pytest.approx(sum(b - a for a, b in zip(pm, pf)) / len(pm))  # FOMAML - MAML
    text = report.text_report(tiny_record)
    assert f"{vs.speedup:.1f}×" in text and "recommendation:" in text
    assert f"{f['test']['accuracy'] * 100:.1f}" in text


def test_stop_ends_training_within_an_iteration_and_is_recorded():
    seen = []

    def on_progress(snap):
        seen.append(snap)
        if snap["phase"] == "train":
            stop.set()

    import threading

    stop = threading.Event()
    cfg = RunConfig(**{**TINY, "train_tasks": 400})
    r = compare(cfg, on_progress=on_progress, stop=stop)
    maml = r["results"]["maml"]
    assert r["status"] == "stopped"
    assert maml["status"] == "stopped" and 1 <= maml["iterations_done"] <= seen[-1]["iteration"] + 1
    assert maml["test"] is not None  # partial results are kept, evaluated and labelled
    fomaml = r["results"]["fomaml"]  # the variants take turns: Stop leaves both at the same iteration
    assert fomaml["status"] == "stopped" and fomaml["iterations_done"] == maml["iterations_done"]
    assert fomaml["test"] is not None and r["baseline"] is not None
    records.validate(r)


def test_stop_during_set_up_trains_and_evaluates_nothing():
    import threading

    stop = threading.Event()

    def on_progress(snap):
        if snap["phase"] == "setup":
            stop.set()

    r = compare(RunConfig(**TINY), on_progress=on_progress, stop=stop)
    assert r["status"] == "stopped" and r["setup"]["evaluation"] == "skipped" and r["baseline"] is None
    assert {n: x["status"] for n, x in r["results"].items()} == {"maml": "not_run", "fomaml": "not_run"}
    assert "No recommendation" in report.recommendation(r)


def test_the_variants_take_turns_and_each_is_timed_alone(tiny_record):
    """Interleaved: both curves cover the same iterations; each variant's clock counts only its own iterations,
    so MAML's (second order, slower) is the larger, and the sum of the two is about the wall time."""
    m, f = (tiny_record["results"][n] for n in ("maml", "fomaml"))
    assert m["curve"]["iteration"] == f["curve"]["iteration"]
    assert m["train_time_s"] > f["train_time_s"] > 0
    assert "interleaved" in tiny_record["protocol"]["timing"]


def test_divergence_stops_one_algorithm_and_the_other_still_runs(monkeypatch):
    real = meta.meta_gradient
    calls = {"n": 0}

    def poisoned(*args, **kw):
        grads, loss, acc = real(*args, **kw)
        if kw.get("algorithm") == "maml":
            calls["n"] += 1
            if calls["n"] >= 4:
                loss = loss * float("nan")
        return grads, loss, acc

    monkeypatch.setattr(meta, "meta_gradient", poisoned)
    r = compare(RunConfig(**{**TINY, "path": "loop"}))
    maml, fomaml = r["results"]["maml"], r["results"]["fomaml"]
    assert maml["status"] == "diverged" and maml["diverged_at"] == 4 and maml["iterations_done"] == 3
    assert all(math.isfinite(v) for v in maml["curve"]["loss"]) and len(maml["curve"]["loss"]) == 3
    assert maml["test"] is None
    assert fomaml["status"] == "complete" and fomaml["test"] is not None
    assert r["status"] == "diverged"
    records.validate(r)
    assert "No recommendation" in report.recommendation(r)


def test_time_budget_caps_training():
    r = compare(RunConfig(**{**TINY, "train_tasks": 100_000, "time_budget_s": 1.0, "eval_tasks": 10}))
    for res in r["results"].values():
        assert res["stop_reason"] == "time budget" and res["status"] == "complete"
        assert 1.0 <= res["train_time_s"] < 5.0


def test_graph_path_needs_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="path"):
        compare(RunConfig(**{**TINY, "path": "graph"}))


def test_cuda_device_refused_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(ValueError, match="device"):
        measure.resolve_device("cuda")


def test_sweep_measures_each_inner_step_count():
    r = sweep(RunConfig(**{**TINY, "path": "loop"}), "inner_steps", (1, 3), iterations=2)
    assert [(p["algorithm"], p["inner_steps"]) for p in r["points"]] == [
        ("maml", 1),
        ("fomaml", 1),
        ("maml", 3),
        ("fomaml", 3),
    ]
    steps = {(p["algorithm"], p["inner_steps"]): p["per_iteration_ms"] for p in r["points"]}
    assert steps[("maml", 3)] > steps[("maml", 1)]  # three inner steps cost more than one
    records.validate(r)


def test_seed_api_train_maml_improves_query_loss():
    data = load_data(torch.device("cpu"))
    sampler = TaskSampler(data.train, 5, 1, 2, seed=0)
    batches = [sampler.sample(2) for _ in range(25)]
    model = OmniglotCNN(5, seed=0)
    model, learner, losses = train_maml(model, batches, inner_lr=0.4, outer_lr=0.005, inner_steps=1, first_order=False)
    assert len(losses) == 25 and sum(losses[-5:]) < sum(losses[:5])
    b = TaskSampler(data.test, 5, 1, 2, seed=1).sample(1)
    logits = learner.adapt(b.xs[0], b.ys[0])(b.xq[0])
    assert logits.shape == (10, 5)
    # any nn.Module works through the exact per-task loop
    generic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 5))
    _, _, gl = train_maml(generic, batches[:3], 0.1, 0.01, 1, True)
    assert len(gl) == 3 and all(math.isfinite(v) for v in gl)


def test_meta_steps_by_loop_and_vmap_train_the_same_parameters():
    data = load_data(torch.device("cpu"))
    cfg = RunConfig(**{**TINY, "inner_steps": 2})
    init = model.init_params(cfg.n_way, 0)
    sampler = TaskSampler(data.train, 5, 1, 2, seed=0)
    batches = [sampler.sample(2) for _ in range(3)]
    out = {}
    for path in ("loop", "vmap"):
        params = {k: v.clone() for k, v in init.items()}
        step = MetaStep(path, params, cfg, "maml", warm_batch=batches[0])
        for b in batches:
            step(b)
        out[path] = params
    # conv biases have an exactly-zero true gradient (batch norm removes them), so Adam moves them by the
    # sign of rounding noise; compare everything else, and the networks' outputs, which they cannot change.
    assert all(
        torch.allclose(out["loop"][k], out["vmap"][k], atol=1e-5)
        for k in init
        if not (k.startswith("conv") and k.endswith(".bias"))
    )
    x = batches[0].xq[0]
    assert torch.allclose(model.forward(out["loop"], x), model.forward(out["vmap"], x), atol=1e-4)
    assert not torch.equal(out["loop"]["head.weight"], init["head.weight"])


def test_the_record_holds_exact_memory_alignment_curves_and_the_networks(tiny_run):
    path, r = tiny_run
    for name in ("maml", "fomaml"):
        res = r["results"][name]
        a = res["alignment"]
        assert a["iteration"][0] == 0 and a["iteration"][-1] == res["iterations_done"] and len(a["iteration"]) == 4
        assert a["reference"] == "maml" and list(a["variants"]) == ["fomaml"]
        g = a["variants"]["fomaml"]
        assert all(-1 <= c <= 1 for c in g["cosine"]) and set(g["per_layer"]) == {
            "block 1",
            "block 2",
            "block 3",
            "block 4",
            "head",
        }
        assert res["autograd_saved_bytes"] > 0
    # the same initialisation, the same probe batch: the first point is the same during both trainings
    cosines = [r["results"][n]["alignment"]["variants"]["fomaml"]["cosine"][0] for n in ("maml", "fomaml")]
    assert cosines[0] == pytest.approx(cosines[1])
    assert r["results"]["maml"]["autograd_saved_bytes"] > r["results"]["fomaml"]["autograd_saved_bytes"]
    assert "saved-tensor hooks" in r["protocol"]["saved_memory"] and "probe batch" in r["protocol"]["alignment"]
    from mamlviz.engine import explore

    nets = explore.load_params(path, r)
    assert set(nets) == {"init", "maml", "fomaml"} and r["params_file"]["bytes"] < 1.5 * 2**20
    assert torch.equal(nets["init"]["head.weight"], model.init_params(5, 0)["head.weight"])
    assert not torch.equal(nets["maml"]["head.weight"], nets["init"]["head.weight"])
    text = report.text_report(r)
    assert "Held for backpropagation" in text and "alignment: During FOMAML's training the cosine" in text


def test_exact_memory_agrees_between_two_runs_of_one_config():
    cfg = RunConfig(**{**TINY, "train_tasks": 4, "eval_tasks": 10, "alignment_points": 0})
    a, b = compare(cfg), compare(cfg)
    for name in ("maml", "fomaml"):
        x, y = a["results"][name]["autograd_saved_bytes"], b["results"][name]["autograd_saved_bytes"]
        assert abs(x - y) <= 0.02 * x  # the target; in fact it is the same number
        assert a["results"][name]["alignment"] is None


def test_corrupt_or_missing_networks_are_refused_with_the_reason(tiny_run, tmp_path):
    from mamlviz.engine import explore

    path, r = tiny_run
    params = path.parent / r["params_file"]["file"]
    copy = tmp_path / params.name
    copy.write_bytes(params.read_bytes()[:-8] + b"corrupt!")
    with pytest.raises(explore.ParamsError, match="sha256"):
        explore.load_params(tmp_path / path.name, r)
    copy.unlink()
    with pytest.raises(explore.ParamsError, match="missing"):
        explore.load_params(tmp_path / path.name, r)


def test_adaptation_traces_start_from_the_networks_and_improve_the_meta_trained_one(tiny_run):
    from mamlviz.engine import explore

    path, r = tiny_run
    nets = explore.load_params(path, r)
    data = load_data(torch.device("cpu"))
    cfg = RunConfig.from_dict(r["config"])
    one = explore.adapt_one(nets, explore.test_task(data, cfg, 3), cfg.inner_lr, 3)
    assert all(len(t["accuracy"]) == 4 and len(t["correct"][0]) == 10 for t in one.values())
    many = explore.adapt_many(nets, data, cfg, 2, 20)
    # the run's own evaluation: after eval_inner_steps (2) the same accuracy as the record's test result
    assert many["maml"]["accuracy"][2] == pytest.approx(r["results"]["maml"]["test"]["accuracy"], abs=1e-4)
    assert many["init"]["accuracy"][2] == pytest.approx(r["baseline"]["accuracy"], abs=1e-4)


def test_sweeps_over_inner_steps_and_inner_lr_measure_memory_and_alignment():
    r = sweep(RunConfig(**{**TINY, "path": "loop"}), "inner_lr", (0.001, 0.4), iterations=2)
    pts = {(p["algorithm"], p["inner_lr"]): p for p in r["points"]}
    assert r["protocol"]["over"] == "inner_lr" and len(pts) == 4
    assert pts[("fomaml", 0.001)]["cosine"] > pts[("fomaml", 0.4)]["cosine"]  # agree as the inner lr goes to 0
    assert pts[("maml", 0.001)]["cosine"] is None  # the reference's own point: nothing to compare with
    assert pts[("maml", 0.001)]["reference_norm"] == pts[("fomaml", 0.001)]["reference_norm"]
    assert pts[("maml", 0.001)]["gradient_norm"] == pts[("maml", 0.001)]["reference_norm"]
    assert "cosine" in report.sweep_report(r)


def test_the_path_is_chosen_once_per_machine_and_config_and_kept_unless_clearly_beaten():
    from mamlviz.engine import step
    from mamlviz.engine.data import load_data

    data = load_data(torch.device("cpu"))
    cfg = RunConfig(**{**TINY, "meta_batch": 2, "train_tasks": 200})  # 100 iterations: worth timing the paths
    init = model.init_params(cfg.n_way, 0)
    step._CHOSEN.pop(step._key(cfg, torch.device("cpu")), None)
    path, first = step.select_path(cfg, torch.device("cpu"), data, init)
    t = first["probe_ms_per_iteration"]
    assert first["chosen_by"] == "measurement" and first["repeats"] == step.REPEATS
    assert set(t) == set(step.candidate_paths(torch.device("cpu")))  # vmap never wins on CPU: not timed there
    assert "vmap" not in t and ("threads" in t) == (torch.get_num_threads() > 1)
    fastest = min(t, key=t.get)
    assert path == (fastest if t[fastest] * step.MARGIN <= t["loop"] else "loop")  # the loop unless clearly beaten
    again, second = step.select_path(cfg, torch.device("cpu"), data, init)
    assert again == path and "earlier in this process" in second["chosen_by"]  # not timed again
    assert second["probe_ms_per_iteration"] == t
    short = cfg.replace(train_tasks=2)  # 1 iteration per variant: timing 3 paths 4 times each would take longer
    usual, why = step.select_path(short, torch.device("cpu"), data, init)
    assert usual == "loop" and why["chosen_by"].startswith("the device's usual path: 2 meta-iterations in all")
    budget = short.replace(time_budget_s=5.0)  # as many iterations as fit: the paths are timed
    assert step.select_path(budget, torch.device("cpu"), data, init)[1]["chosen_by"] != why["chosen_by"]


def test_validation_accuracy_is_measured_from_the_initialisation_to_the_end_outside_training_time(tiny_record):
    """Accuracy against time (issue 23): the same held-out tasks at every point, the first the initialisation's
    (so the same for MAML and FOMAML, whose inner loops are the same), the last the trained network's."""
    cfg = tiny_record["config"]
    curves = {n: r["validation"] for n, r in tiny_record["results"].items()}
    for name, c in curves.items():
        res = tiny_record["results"][name]
        assert c["tasks"] == cfg["validation_tasks"] and len(c["iteration"]) == cfg["validation_points"]
        assert c["iteration"][0] == 0 and c["time_s"][0] == 0 and c["iteration"][-1] == res["iterations_done"]
        assert c["time_s"] == sorted(c["time_s"]) and c["time_s"][-1] == pytest.approx(res["train_time_s"])
        assert all(0 <= a <= 1 for a in c["accuracy"])
    assert curves["maml"]["accuracy"][0] == curves["fomaml"]["accuracy"][0]
    assert "validation tasks" in tiny_record["protocol"]["validation"]


def test_fair_by_time_the_faster_variant_is_measured_at_the_references_marks_then_at_its_end():
    """Until it learns the reference's time, a time-fair variant's points are spaced like the reference's
    (evenly over the planned iterations); its last is at its own end, after the extra tasks."""
    cfg = RunConfig(**{**TINY, "train_tasks": 20, "fairness": "time", "validation_points": 3, "alignment_points": 3})
    res = compare(cfg)["results"]
    maml, fomaml = res["maml"], res["fomaml"]
    assert maml["validation"]["iteration"] == [0, 5, 10] == maml["alignment"]["iteration"]
    later = fomaml["iterations_done"]  # more than 10 unless the machine's load made FOMAML no faster
    for points in (fomaml["validation"]["iteration"], fomaml["alignment"]["iteration"]):
        assert points[:3] == [0, 5, 10] and points[-1] == later
