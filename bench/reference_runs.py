"""The reference runs for cached_runs/ (issue 4), in one go of at most ~9 minutes on an H100/H200.

    python bench/reference_runs.py --out OUT_DIR [--budget 90] [--budget-20way 60]

First runs bench/gpu_check.py (exactness on the device, CUDA graph vs vmap) and stops if it fails.
Writes one run record per run into OUT_DIR, plus bench.json (fast path vs per-task loop) and
index.json (which record is which). Every number comes from the project's own compare/sweep.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from mamlviz import RunConfig, compare, omniglot, presets, records, report, sweep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--budget", type=float, default=90.0, help="training seconds per algorithm, paper 5-way")
    ap.add_argument("--budget-20way", type=float, default=60.0)
    ap.add_argument("--device", default="cuda")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="every step with tiny settings (for a CPU check that the GPU run cannot fail on a typo)",
    )
    args = ap.parse_args()
    if args.smoke:
        args.budget = args.budget_20way = 2.0

    def sized(cfg: RunConfig) -> RunConfig:
        """The run as given, or for --smoke a few iterations and test tasks of it."""
        if not args.smoke:
            return cfg
        mb = min(cfg.meta_batch, 2)
        return cfg.replace(
            meta_batch=mb, train_tasks=2 * mb, eval_tasks=10, k_query=min(cfg.k_query, 2), alignment_points=2
        )

    args.out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    index = []
    check = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("gpu_check.py")), "--device", args.device],
        capture_output=True,
        text=True,
    )
    (args.out / "gpu_check.txt").write_text(check.stdout + check.stderr)
    print(check.stdout + check.stderr, flush=True)
    if check.returncode != 0:
        sys.exit("correctness checks failed on the device: no reference runs recorded")

    def run(name, cfg, label, what):
        t0 = time.perf_counter()
        rec = compare(sized(cfg), label=label, params_dir=args.out)
        records.save(rec, args.out / f"{name}.json")
        index.append({"file": f"{name}.json", "what": what, "label": label})
        print(f"\n== {label} ({time.perf_counter() - t0:.0f} s)\n{report.text_report(rec)}", flush=True)

    dev = {"device": args.device}
    run(
        "paper_5way_1shot",
        RunConfig(**{**presets.PAPER_5WAY_1SHOT.to_dict(), **dev, "time_budget_s": args.budget}),
        f"Paper 5-way 1-shot, {args.budget:.0f} s per algorithm",
        "Finn et al. 2017 Omniglot 5-way 1-shot setting",
    )
    seed = RunConfig(**{**presets.SEED_EXPERIMENT.to_dict(), **dev})
    originals = omniglot.is_ready(seed.image_size) or omniglot.original_source() is not None
    if originals:  # the tutorial's protocol needs the original 105x105 images (no download on the device)
        run(
            "seed_experiment",
            seed,
            "Seed tutorial's experiment: 105x105, 200 tasks, 5 inner steps",
            "the seed tutorial's protocol, its claims tested on a GPU",
        )
    else:
        print("\n== skipped the seed tutorial's experiment: no original Omniglot images here", flush=True)
    sweep_record = sweep(
        sized(RunConfig(**{**presets.PAPER_5WAY_1SHOT.to_dict(), **dev, "time_budget_s": None, "train_tasks": 32})),
        "inner_steps",
        (1, 2) if args.smoke else (1, 2, 3, 5, 7, 10),
        iterations=2 if args.smoke else 30,
        label="Inner-steps sweep, 5-way 1-shot, meta-batch 32",
    )
    records.save(sweep_record, args.out / "sweep_inner_steps.json")
    index.append({"file": "sweep_inner_steps.json", "what": "scaling view", "label": sweep_record["label"]})
    print(report.sweep_report(sweep_record), flush=True)
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("bench_meta.py")),
            "--device",
            args.device,
            "--loop-reps",
            "1" if args.smoke else "5",
            *(["--meta-batch", "2", "--steps", "1", "--reps", "1"] if args.smoke else []),
            "--out",
            str(args.out / "bench.json"),
        ],
        check=False,
    )
    # PyTorch's published functorch MAML benchmark setup (5-way 5-shot, 15 queries, 5 inner steps, meta-batch 32)
    subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("bench_meta.py")),
            "--device",
            args.device,
            "--k-shot",
            "5",
            "--steps",
            "5",
            "--loop-reps",
            "1" if args.smoke else "3",
            "--out",
            str(args.out / "bench_functorch.json"),
            *(["--meta-batch", "2", "--reps", "1"] if args.smoke else ["--meta-batch", "32"]),
        ],
        check=False,
    )
    subprocess.run(  # torch.optim.Adam(capturable=True) against ours inside the CUDA graph
        [
            sys.executable,
            str(Path(__file__).with_name("adam_in_graph.py")),
            "--device",
            args.device,
            "--out",
            str(args.out / "adam_in_graph.json"),
            *(["--meta-batch", "2", "--reps", "3"] if args.smoke else []),
        ],
        check=False,
    )
    left = 9 * 60 - (time.perf_counter() - t_all) - 60  # keep a minute for evaluation and writing
    budget20 = max(10.0, min(args.budget_20way, left / 2))
    run(
        "paper_20way_1shot",
        RunConfig(**{**presets.PAPER_20WAY_1SHOT.to_dict(), **dev, "time_budget_s": budget20}),
        f"Paper 20-way 1-shot, {budget20:.0f} s per algorithm",
        "where the paper shows second order paying off",
    )
    (args.out / "index.json").write_text(json.dumps(index, indent=1))
    print(f"\nall reference runs: {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
