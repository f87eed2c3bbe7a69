"""Named starting points for the sidebar and the CLI. No torch: the UI reads these at start-up."""

from __future__ import annotations

from .config import RunConfig

# Whole comparison (both trainings, analysis, evaluation of three models) in about 26 s on 2 CPU cores, end to
# end from the CLI (bench/engine_speed.py --end-to-end measures it; docs/results.md shows the figures).
CPU_QUICK = RunConfig(
    n_way=5,
    k_shot=1,
    k_query=3,
    inner_lr=0.4,
    outer_lr=0.005,
    inner_steps=1,
    eval_inner_steps=3,
    meta_batch=2,
    train_tasks=300,
    eval_tasks=64,
    validation_points=6,
    validation_tasks=16,
    device="cpu",
)

# Finn et al. 2017, Omniglot 5-way 1-shot: inner lr 0.4, 1 step (3 at test), meta-batch 32, Adam 1e-3;
# capped at 25 s of training per algorithm so that the comparison ends in about a minute on a GPU.
PAPER_5WAY_1SHOT = RunConfig(
    n_way=5,
    k_shot=1,
    k_query=15,
    inner_lr=0.4,
    outer_lr=0.001,
    inner_steps=1,
    eval_inner_steps=3,
    meta_batch=32,
    train_tasks=32 * 60_000,
    eval_tasks=600,
    time_budget_s=25.0,
)

# The seed tutorial's experiment, its protocol: the original 105x105 images, 5-way 1-shot with 15 queries per
# class, 200 training tasks in meta-batches of 4, 5 inner steps at 0.01 (training and test), Adam 1e-3, 100 test
# tasks. What still differs (its character split, no rotations, gradient clipping, one unseeded run on a GPU,
# time including loading the images) is listed by the claims view (mamlviz.claims). Alignment and validation
# points are this project's own measurements, fewer than the defaults: at 105x105 each costs seconds on a CPU.
SEED_EXPERIMENT = RunConfig(
    image_size=105,
    n_way=5,
    k_shot=1,
    k_query=15,
    inner_lr=0.01,
    outer_lr=0.001,
    inner_steps=5,
    eval_inner_steps=5,
    meta_batch=4,
    train_tasks=200,
    eval_tasks=100,
    alignment_points=5,
    validation_points=6,
    validation_tasks=20,
)

# Finn et al. 2017, Omniglot 20-way 1-shot: 5 inner steps at 0.1, meta-batch 16.
PAPER_20WAY_1SHOT = RunConfig(
    n_way=20,
    k_shot=1,
    k_query=5,
    inner_lr=0.1,
    outer_lr=0.001,
    inner_steps=5,
    eval_inner_steps=5,
    meta_batch=16,
    train_tasks=16 * 60_000,
    eval_tasks=600,
    time_budget_s=60.0,
)

PRESETS: dict[str, RunConfig] = {
    "Quick CPU demo (under half a minute on 2 cores)": CPU_QUICK,
    "Paper 5-way 1-shot (GPU, 25 s per algorithm)": PAPER_5WAY_1SHOT,
    "Seed tutorial's experiment: 105×105 images, 200 tasks, 5 inner steps": SEED_EXPERIMENT,
    "Paper 20-way 1-shot (GPU, 60 s per algorithm)": PAPER_20WAY_1SHOT,
}


def default_for(has_cuda: bool) -> RunConfig:
    """What the Start button runs untouched: the paper's setting on a GPU, the small one on CPU."""
    return RunConfig(**{**PAPER_5WAY_1SHOT.to_dict(), "device": "cuda"}) if has_cuda else CPU_QUICK
