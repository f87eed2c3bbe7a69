"""compare() and sweep(): whole measured experiments, each returning a validated run record.

``compare`` trains MAML, then FOMAML, on the same task stream from the same initialisation,
evaluates both and the un-meta-trained initialisation (the baseline) on the same test tasks.
``sweep`` measures time and peak memory per iteration against the number of inner steps. Both
share their set-up: device, data on the device, initialisation, and the measured choice of path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .. import records
from ..config import RunConfig
from ..progress import Progress, Reporter
from ..records import ALGORITHMS, AlgorithmResult
from . import measure, model
from .data import SPLIT_SEED, Data, load_data
from .evaluate import evaluate
from .step import select_path
from .train import train

OnProgress = Callable[[dict], None]


@dataclass
class _Setup:
    device: torch.device
    data: Data
    init: dict
    path: str
    selection: dict


def _set_up(cfg: RunConfig) -> _Setup:
    device = measure.resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = load_data(device)
    init = model.init_params(cfg.n_way, cfg.seed, device=device)
    path, selection = select_path(cfg, device, data, init)
    return _Setup(device, data, init, path, selection)


def _protocol(cfg: RunConfig, device: torch.device, path: str, kind=records.Protocol, **extra) -> records.Protocol:
    return kind(
        dataset="Omniglot, 28x28 LANCZOS, ink=1 (mamlviz/data/omniglot28.npz, sha256-checked)",
        split=f"1200 train / 423 test characters, random with seed {SPLIT_SEED}",
        split_seed=SPLIT_SEED,
        rotations="4 rotations x 90 degrees as extra classes (4800 train / 1692 test classes)",
        task=f"{cfg.n_way}-way {cfg.k_shot}-shot, {cfg.k_query} queries per class",
        batch_norm="transductive: batch statistics at training and test, no running averages",
        train_inner_steps=cfg.inner_steps,
        test_inner_steps=cfg.eval_inner_steps,
        test_tasks=cfg.eval_tasks,
        outer_optimizer=f"Adam lr={cfg.outer_lr}",
        timing=(
            "training wall clock, synchronized every iteration, on-device task sampling included; "
            "data loading, path selection and CUDA-graph capture excluded and reported apart"
        ),
        memory=measure.memory_metric(device),
        path=path,
        time_budget_s=cfg.time_budget_s,
        **extra,
    )


def compare(
    config: RunConfig | dict,
    on_progress: OnProgress | None = None,
    stop: threading.Event | None = None,
    label: str | None = None,
    launched_from: str = "python",
    skip_eval: threading.Event | None = None,
) -> dict:
    """Train MAML then FOMAML on the same task stream; evaluate both and the baseline; return the record.

    ``on_progress`` receives ``Progress`` snapshots (as dicts) at most every 0.25 s; setting ``stop``
    ends training within one iteration (the other algorithm is then not run) and the record says so.
    ``launched_from`` ("python", "cli", "dashboard") is stored with the record. Setting ``skip_eval``
    abandons the evaluation (the models keep no test result, and the record says it was skipped).
    """
    cfg = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    stop = stop or threading.Event()
    report = Reporter(on_progress)
    report(Progress(None, "setup", 0, cfg.iterations), force=True)
    s = _set_up(cfg)
    results: dict[str, AlgorithmResult] = {}
    trained: dict[str, dict] = {}
    for name in ALGORITHMS:
        if stop.is_set():
            results[name] = AlgorithmResult.not_run(name, s.path, cfg.iterations)
        else:
            results[name], trained[name] = train(name, cfg, s.device, s.data, s.init, s.path, report, stop)
    t_eval = time.perf_counter()
    for name, res in results.items():
        if res.iterations_done > 0 and res.status != "diverged":
            report(Progress(name, "eval", res.iterations_done, cfg.iterations, res.train_time_s), force=True)
            res.test = evaluate(trained[name], cfg, s.device, s.data, s.path, cancel=skip_eval)
    baseline = evaluate(s.init, cfg, s.device, s.data, s.path, cancel=skip_eval)
    evaluation = "skipped" if skip_eval is not None and skip_eval.is_set() else "complete"
    statuses = {r.status for r in results.values()}
    status = "stopped" if statuses & {"stopped", "not_run"} else "diverged" if "diverged" in statuses else "complete"
    record = records.new_record(
        "compare",
        cfg,
        measure.environment(s.device),
        label,
        status=status,
        protocol=_protocol(cfg, s.device, s.path),
        setup=records.CompareSetup(
            launched_from,
            s.data.load_s,
            s.path,
            s.selection,
            eval_time_s=time.perf_counter() - t_eval,
            params=model.count_params(s.init),
            evaluation=evaluation,
        ),
        results=records.Results(**results),
        baseline=baseline,
        chance=1.0 / cfg.n_way,
    )
    report(Progress(None, "done", cfg.iterations, cfg.iterations), force=True)
    return record


def sweep(
    config: RunConfig | dict,
    inner_steps=(1, 2, 3, 5, 7, 10),
    iterations: int = 20,
    on_progress: OnProgress | None = None,
    stop: threading.Event | None = None,
    label: str | None = None,
    launched_from: str = "python",
) -> dict:
    """Per-iteration time and peak memory against inner steps, both algorithms (the scaling view).

    The path is chosen once, for the first inner-step count, and kept for every point.
    """
    base = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    stop = stop or threading.Event()
    report = Reporter(on_progress)
    first = base.replace(inner_steps=inner_steps[0], train_tasks=iterations * base.meta_batch)
    s = _set_up(first)
    points = []
    for steps in inner_steps:
        cfg = first.replace(inner_steps=steps)
        for name in ALGORITHMS:
            if stop.is_set():
                break
            report(Progress(name, "sweep", len(points), 2 * len(inner_steps), inner_steps=steps), force=True)
            res, _ = train(name, cfg, s.device, s.data, s.init, s.path, Reporter(None), stop)
            if res.iterations_done:
                points.append(
                    records.SweepPoint(
                        name, steps, res.iterations_done, res.per_iteration_ms_median, res.peak_memory_bytes, res.status
                    )
                )
    sweep_words = f"{iterations} iterations per point, median per-iteration time, peak memory as in compare"
    return records.new_record(
        "sweep",
        base,
        measure.environment(s.device),
        label,
        status="stopped" if stop.is_set() else "complete",
        protocol=_protocol(base, s.device, s.path, kind=records.SweepProtocol, sweep=sweep_words),
        setup=records.Setup(launched_from, s.data.load_s, s.path, s.selection),
        points=points,
    )
