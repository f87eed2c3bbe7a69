"""The CPU records shipped in cached_runs/, made again on this machine, one after the other.

    python bench/cpu_cached_runs.py [--out cached_runs] [--only NAME ...]

Runs the default CPU comparison (and prints its end-to-end wall clock, as a user pressing Start
with the defaults would wait), the seed tutorial's experiment on its protocol (105x105; about 17 minutes), the
same fair by time (about 20 minutes) and at 28x28, the two sweeps (inner steps, inner
learning rate), a study (the default comparison at 1, 3 and 5 inner steps, 3 seeds each, one
at a time: about 11 minutes), and the six algorithms of the variant table on the default comparison,
once with its networks and as a 3-seed study. Each compare record is saved with its networks (a study's runs
without); index.json is rewritten.
Run it on an otherwise idle machine: its timings go into the README.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from mamlviz import RunConfig, compare, presets, records, report, sweep, variants
from mamlviz.analysis import study
from mamlviz.run.executors import LocalExecutor
from mamlviz.run.study_runner import run_study

SWEEP_BASE = RunConfig(
    n_way=5, k_shot=1, k_query=3, inner_lr=0.4, outer_lr=0.001, meta_batch=4, train_tasks=4, device="cpu", path="loop"
)
SIX = presets.CPU_QUICK.replace(algorithms=",".join(variants.VARIANTS))
SIX_LABEL = "Six algorithms: the default CPU comparison"
SEED_LABEL = "Seed tutorial's experiment on CPU: 105x105, 200 tasks, 5 inner steps"
SEED_TIME_LABEL = "Seed tutorial's experiment on CPU, fair by time: FOMAML trains as long as MAML"
SEED_28_LABEL = "Seed tutorial's experiment on CPU at 28x28 (the images shrunk)"
RUNS = {
    "cpu_quick_demo": (
        "The app's default CPU comparison (5-way 1-shot, 3 queries, meta-batch 2, 300 tasks, outer lr 0.005), on 2 "
        "CPU cores",
        "CPU quick demo (default CPU config)",
        lambda out: compare(presets.CPU_QUICK, label="CPU quick demo (default CPU config)", params_dir=out),
    ),
    "seed_experiment_cpu": (
        "The seed tutorial's experiment on its protocol (105x105 images, 5-way 1-shot, 15 queries, 200 tasks in "
        "meta-batches of 4, 5 inner steps at 0.01, 100 test tasks), fair by tasks: its speed, memory and accuracy "
        "claims",
        SEED_LABEL,
        lambda out: compare(presets.SEED_EXPERIMENT.replace(device="cpu"), label=SEED_LABEL, params_dir=out),
    ),
    "seed_experiment_equal_time_cpu": (
        "The same, fair by time: FOMAML trains for as long as MAML did (its claim that trained longer it would "
        "match MAML)",
        SEED_TIME_LABEL,
        lambda out: compare(
            presets.SEED_EXPERIMENT.replace(device="cpu", fairness="time"), label=SEED_TIME_LABEL, params_dir=out
        ),
    ),
    "seed_experiment_28_cpu": (
        "The seed tutorial's experiment with the images shrunk to 28x28 (everything else as its protocol): what "
        "the image size changes",
        SEED_28_LABEL,
        lambda out: compare(
            presets.SEED_EXPERIMENT.replace(device="cpu", image_size=28), label=SEED_28_LABEL, params_dir=out
        ),
    ),
    "sweep_inner_steps_cpu": (
        "Inner-steps sweep (1-10), 4 iterations per point: time, memory and gradient alignment",
        "Inner-steps sweep on CPU (5-way 1-shot, meta-batch 4)",
        lambda out: sweep(
            SWEEP_BASE,
            "inner_steps",
            (1, 2, 3, 4, 5, 7, 10),
            iterations=4,
            label="Inner-steps sweep on CPU (5-way 1-shot, meta-batch 4)",
        ),
    ),
    "sweep_inner_lr_cpu": (
        "Inner-learning-rate sweep (0.0001-0.8), 1 inner step, 4 iterations per point: where the two "
        "meta-gradients agree and where they part",
        "Inner-lr sweep on CPU (5-way 1-shot, meta-batch 4, 1 inner step)",
        lambda out: sweep(
            SWEEP_BASE,
            "inner_lr",
            (0.0001, 0.001, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8),
            iterations=4,
            label="Inner-lr sweep on CPU (5-way 1-shot, meta-batch 4, 1 inner step)",
        ),
    ),
    "study_inner_steps_cpu": (
        "A study: the default CPU comparison at 1, 3 and 5 inner steps, seeds 0-2, one run at a time: "
        "means with 95 % intervals and the paired MAML - FOMAML difference (its 9 runs are the files it lists)",
        "CPU study: inner steps 1, 3, 5 x 3 seeds (CPU quick demo config)",
        lambda out: _study(out, "CPU study: inner steps 1, 3, 5 x 3 seeds (CPU quick demo config)"),
    ),
    "six_algorithms_cpu": (
        "The six algorithms (MAML, FOMAML, Reptile, ANIL, Meta-SGD, MAML++) on the app's default CPU comparison, "
        "the same tasks for all, on 2 CPU cores",
        SIX_LABEL,
        lambda out: compare(SIX, label=SIX_LABEL, params_dir=out),
    ),
    "study_six_algorithms_cpu": (
        "A study: the six algorithms on the default CPU comparison, seeds 0-2, one run at a time: means with 95 % "
        "intervals and each algorithm's paired difference from MAML",
        "CPU study: six algorithms x 3 seeds (CPU quick demo config)",
        lambda out: _study(
            out, "CPU study: six algorithms x 3 seeds (CPU quick demo config)", grid={"seed": [0, 1, 2]}, base=SIX
        ),
    ),
}


def _study(out: Path, label: str, grid=None, base=presets.CPU_QUICK) -> dict:
    plan = study.plan(grid or {"inner_steps": [1, 3, 5], "seed": [0, 1, 2]}, base=base)
    executor = LocalExecutor()
    try:
        return run_study(plan, out, executor, label=label)
    finally:
        executor.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "cached_runs")
    ap.add_argument("--only", nargs="*", default=list(RUNS), choices=list(RUNS))
    args = ap.parse_args()
    index_path = args.out / "index.json"
    index = {e["file"]: e for e in json.loads(index_path.read_text())} if index_path.exists() else {}
    for name in args.only:
        what, label, run = RUNS[name]
        old = records.load(args.out / f"{name}.json") if (args.out / f"{name}.json").exists() else None
        t0 = time.perf_counter()
        record = run(args.out)
        wall = time.perf_counter() - t0
        records.save(record, args.out / f"{name}.json")
        if record["kind"] == "study":  # saved under its id as it ran: keep the named copy only
            (args.out / f"{record['id']}.json").unlink(missing_ok=True)
        for run in old["runs"] if old and old["kind"] == "study" else []:
            if run["record_file"]:
                (args.out / run["record_file"]).unlink(missing_ok=True)  # the replaced study's runs
        if (
            old
            and old.get("params_file")
            and old["params_file"]["file"] != (record.get("params_file") or {}).get("file")
        ):
            (args.out / old["params_file"]["file"]).unlink(missing_ok=True)  # the replaced run's networks
        index[f"{name}.json"] = {"file": f"{name}.json", "what": what, "label": label}
        text = report.report(record)
        print(f"== {label}\n{text}\nwhole run: {wall:.1f} s wall clock", flush=True)
        if record["kind"] == "compare":
            s = record["setup"]
            print(
                f"  (data {s['data_load_s']:.1f} s, path selection {s['path_selection'].get('probe_s', 0):.1f} s, "
                f"analysis {s['analysis_time_s']:.1f} s, evaluation {s['eval_time_s']:.1f} s)\n",
                flush=True,
            )
    index_path.write_text(json.dumps(list(index.values()), indent=1) + "\n")
    # docs/results.md is made from these records, so that its figures cannot drift from them
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parents[1] / "scripts" / "results_doc.py")], check=True
    )


if __name__ == "__main__":
    main()
