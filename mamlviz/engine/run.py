"""compare() and sweep(): whole measured experiments, each returning a validated run record.

``compare`` trains the config's algorithms (``cfg.variants``, the reference first), one after the
other, on the same task stream from the same initialisation, measures what each keeps for
backpropagation and how its meta-gradient compares with the reference's exact one, and evaluates
every trained network and the un-meta-trained initialisation (the baseline) on the same test tasks.
``sweep`` measures time, memory and gradient alignment against the number of inner steps or the
inner learning rate. Both share their set-up: device, data on the device, initialisation, and
the measured choice of path.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import records, variants
from ..config import FIELDS, RunConfig
from ..progress import Progress, Reporter
from ..records import AlgorithmResult
from . import algorithms, measure, model
from .data import SPLIT_SEED, Data, load_data
from .evaluate import evaluate
from .geometry import alignment_curve
from .saved_memory import saved_for_backward_bytes
from .step import select_path
from .tasks import TaskBatch, TaskSampler
from .train import MEMORY_ITERATIONS, peak_memory, train

OnProgress = Callable[[dict], None]
PROBE_SEED = 29  # the probe batch (alignment, saved bytes) is not part of the training stream


@dataclass
class _Setup:
    device: torch.device
    data: Data
    init: dict
    path: str
    selection: dict


def _set_up(cfg: RunConfig, report: Reporter | None = None) -> _Setup:
    """Device, data on it, the initialisation and the path, each step said to ``report`` as it starts."""
    report = report or Reporter(None)

    def say(detail: str, done: int) -> None:
        report(Progress(None, "setup", done, SETUP_STEPS, detail=detail), force=True)

    device = measure.resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    say("loading the Omniglot images onto the device", 0)
    data = load_data(device, cfg.image_size)
    init = model.init_params(cfg.n_way, cfg.seed, image_size=cfg.image_size, device=device)
    say("choosing the fastest exact meta-gradient path on this machine (timed once per config)", 1)
    path, selection = select_path(cfg, device, data, init)
    say(f"building each variant's meta-step on the {path} path", 2)
    return _Setup(device, data, init, path, selection)


SETUP_STEPS = 3


def probe_tasks(cfg: RunConfig, device: torch.device) -> int:
    """Tasks in the alignment probe batch: the meta-batch on a GPU, at most 4 on CPU (time)."""
    return cfg.meta_batch if device.type == "cuda" else min(cfg.meta_batch, 4)


BATCH_NORM_WORDS = {
    "transductive": "transductive: batch statistics at training and test, no running averages (the queries of a "
    "task are normalised together, as Finn et al. and the seed tutorial do)",
    "support": "support statistics: every query normalised with its task's support-set statistics (after the same "
    "adaptation), at training and test, no running averages; each query is classified on its own",
}


def _protocol(cfg: RunConfig, device: torch.device, path: str, kind=records.Protocol, **extra) -> records.Protocol:
    return kind(
        dataset=(
            "Omniglot, 28x28 LANCZOS, ink=1 (mamlviz/data/omniglot28.npz, sha256-checked)"
            if cfg.image_size == 28
            else f"Omniglot, the original {cfg.image_size}x{cfg.image_size} images, ink=1 (built from the original "
            "PNGs, pixels sha256-checked, cached)"
        ),
        split=f"1200 train / 423 test characters, random with seed {SPLIT_SEED}",
        split_seed=SPLIT_SEED,
        rotations="4 rotations x 90 degrees as extra classes (4800 train / 1692 test classes)",
        task=f"{cfg.n_way}-way {cfg.k_shot}-shot, {cfg.k_query} queries per class",
        batch_norm=BATCH_NORM_WORDS[cfg.batch_norm],
        train_inner_steps=cfg.inner_steps,
        test_inner_steps=cfg.eval_inner_steps,
        test_tasks=cfg.eval_tasks,
        outer_optimizer=f"Adam lr={cfg.outer_lr}",
        timing=(
            "each variant's own training time, its meta-iterations interleaved with the other variants' (one of "
            "each in turn, so that all see the same machine load) and each timed alone, synchronized, on-device "
            "task sampling included; data loading, path selection and CUDA-graph capture excluded and reported "
            "apart; ratios from the median time per iteration"
        ),
        memory=measure.memory_metric(device) + f", each variant alone for {MEMORY_ITERATIONS} meta-iterations",
        path=path,
        time_budget_s=cfg.time_budget_s,
        fairness=(
            "same training tasks for all"
            if cfg.fairness == "tasks"
            else "same training time for all ("
            + (
                f"the {cfg.time_budget_s:g} s budget"
                if cfg.time_budget_s
                else f"{variants.label(variants.reference_of(cfg.variants))}'s, given to the others as their budget"
            )
            + "): a faster variant sees more tasks"
        ),
        saved_memory=(
            "peak bytes of the tensors autograd holds for the backward pass during one meta-iteration of "
            f"{cfg.meta_batch} tasks, counted with saved-tensor hooks, one task at a time as the per-task loop "
            "holds them (the threads path holds one task's graph per worker at once, a vectorized path every "
            "task's: more); exact, the same on every run of a config whatever path it took"
        ),
        alignment=(
            f"each variant's mean meta-gradient against {variants.label(variants.reference_of(cfg.variants))}'s on "
            f"a fixed probe batch of {probe_tasks(cfg, device)} training tasks, at {cfg.alignment_points} evenly "
            "spaced points of its own training and of the reference's (the first at the initialisation), measured "
            "after training, outside its time and memory"
            if cfg.alignment_points and len(cfg.variants) > 1
            else "not measured (alignment_points = 0)"
            if not cfg.alignment_points
            else "not measured (one algorithm: nothing to compare)"
        ),
        algorithms={n: dict(algorithms.get(n).parts) for n in cfg.variants},
        validation=(
            f"each variant's accuracy after {cfg.eval_inner_steps} inner step(s) on the same {cfg.validation_tasks} "
            "validation tasks (drawn from the held-out characters by their own stream, not the test tasks; nothing "
            f"is chosen by them), at {cfg.validation_points} evenly spaced points of its own training (the first "
            "at the initialisation, the last at its end), measured between two of its meta-iterations, outside its "
            "training time"
            if cfg.validation_points
            else "not measured (validation_points = 0)"
        ),
        **extra,
    )


def _analysis(name: str, snapshots, cfg: RunConfig, s: _Setup) -> tuple[int, records.AlignmentCurve | None]:
    """Exact saved-for-backward bytes of one meta-iteration, and the alignment curve of a variant."""
    sampler = TaskSampler(s.data.train, cfg.n_way, cfg.k_shot, cfg.k_query, seed=cfg.seed + PROBE_SEED)
    batch = sampler.sample(cfg.meta_batch)
    saved = saved_for_backward_bytes(
        s.init,
        batch.xs,
        batch.ys,
        batch.xq,
        batch.yq,
        inner_lr=cfg.inner_lr,
        inner_steps=cfg.inner_steps,
        algorithm=name,
        tasks_together=False,  # the same figure whatever path the run took
        forward=model.for_mode(cfg.batch_norm),
    )
    n = probe_tasks(cfg, s.device)
    probe = TaskBatch(batch.xs[:n], batch.ys[:n], batch.xq[:n], batch.yq[:n])
    ref = variants.reference_of(cfg.variants)
    names = cfg.variants if name == ref else [ref, name]  # along another's training: it against the reference
    curve = alignment_curve(
        snapshots,
        probe,
        inner_lr=cfg.inner_lr,
        inner_steps=cfg.inner_steps,
        names=names,
        owner=name,
        forward=model.for_mode(cfg.batch_norm),
    )
    return saved, curve


def networks_file(record_id: str, models: dict[str, dict]) -> tuple[records.ParamsFile, bytes]:
    """The initialisation and trained networks as one safetensors file's bytes (no pickle), and the record's
    note of it: its name, sha256 and size. Written by whoever saves the record, beside it, as one unit."""
    from safetensors.torch import save

    tensors = {f"{m}/{k}": v.detach().float().cpu().contiguous() for m, p in models.items() for k, v in p.items()}
    data = save(tensors, metadata={"record": record_id})
    name = f"{record_id}.safetensors"
    return records.ParamsFile(name, hashlib.sha256(data).hexdigest(), len(data), list(models)), data


def _eval_progress(report: Reporter, name: str | None, res: AlgorithmResult | None, cfg: RunConfig):
    """Reports evaluation progress of ``name`` (None: the baseline), starting with 0 tasks done."""
    done_iterations = res.iterations_done if res else 0

    def on_progress(done: int, force: bool = False):
        report(
            Progress(
                name,
                "eval",
                done_iterations,
                cfg.iterations,
                res.train_time_s if res else 0.0,
                eval_done=done,
                eval_total=cfg.eval_tasks,
            ),
            force=force or done == cfg.eval_tasks,
        )

    on_progress(0, force=True)
    return on_progress


def compare(
    config: RunConfig | dict,
    on_progress: OnProgress | None = None,
    stop: threading.Event | None = None,
    label: str | None = None,
    launched_from: str = "python",
    skip_eval: threading.Event | None = None,
    params_dir: str | os.PathLike | None = None,
    networks: dict | None = None,
) -> dict:
    """Train the config's algorithms on the same task stream; evaluate each and the baseline; return the record.

    ``on_progress`` receives ``Progress`` snapshots (as dicts) at most every 0.25 s; setting ``stop``
    ends training within one iteration (the algorithms not yet started are then not run) and the record
    says so. ``launched_from`` ("python", "cli", "dashboard") is stored with the record. Setting
    ``skip_eval`` abandons the analysis and evaluation (the record says it was skipped). With
    ``networks`` (a dict), the initialisation and every trained network are put there as
    ``{"<record id>.safetensors": bytes}`` for the caller to save beside the record
    (``records.save_run``); with ``params_dir`` they are written there at once.
    """
    cfg = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    stop = stop or threading.Event()
    skip_eval = skip_eval or threading.Event()
    report = Reporter(on_progress)
    s = _set_up(cfg, report)
    if stop.is_set():  # stopped during set-up: nothing trained, nothing to evaluate
        skip_eval.set()
        trained = {}
        results = {n: AlgorithmResult.not_run(n, s.path, cfg.iterations) for n in cfg.variants}
    else:
        trained = train(cfg.variants, cfg, s.device, s.data, s.init, s.path, on_progress, stop)
        results = {n: t.result for n, t in trained.items()}
    t_analysis = time.perf_counter()
    for name, t in trained.items():
        if not skip_eval.is_set():
            report(Progress(name, "analysis", t.result.iterations_done, t.result.iterations_planned), force=True)
            t.result.autograd_saved_bytes, t.result.alignment = _analysis(name, t.snapshots, cfg, s)
            memory = peak_memory(name, cfg, s.device, s.data, s.init, s.path)
            t.result.peak_memory_bytes, t.result.peak_memory_total_bytes = memory.increase_bytes, memory.peak_bytes
            t.result.memory_metric = memory.metric
    t_eval = time.perf_counter()
    for name, res in results.items():
        if res.iterations_done > 0 and res.status != "diverged":
            res.test = evaluate(
                trained[name].params,
                cfg,
                s.device,
                s.data,
                s.path,
                cancel=skip_eval,
                on_progress=_eval_progress(report, name, res, cfg),
                algorithm=name,
            )
    baseline = None
    if not skip_eval.is_set():
        progress = _eval_progress(report, None, None, cfg)
        baseline = evaluate(s.init, cfg, s.device, s.data, s.path, cancel=skip_eval, on_progress=progress)
    statuses = {r.status for r in results.values()}
    status = "stopped" if statuses & {"stopped", "not_run"} else "diverged" if "diverged" in statuses else "complete"
    record_id = records.new_id()  # names the networks' file too
    nets = {"init": s.init, **{n: t.params for n, t in trained.items() if t.result.iterations_done}}
    params_file = None
    if params_dir is not None or networks is not None:
        params_file, data = networks_file(record_id, nets)
        if networks is not None:
            networks[params_file.file] = data
        if params_dir is not None:
            records.write_atomic(Path(params_dir) / params_file.file, data)
    record = records.new_record(
        "compare",
        cfg,
        measure.environment(s.device),
        label,
        record_id,
        status=status,
        protocol=_protocol(cfg, s.device, s.path),
        setup=records.CompareSetup(
            launched_from,
            s.data.load_s,
            s.path,
            s.selection,
            eval_time_s=time.perf_counter() - t_eval,
            params=model.count_params(s.init),
            evaluation="skipped" if skip_eval.is_set() else "complete",
            analysis_time_s=t_eval - t_analysis,
        ),
        results=results,
        baseline=baseline,
        chance=1.0 / cfg.n_way,
        params_file=params_file,
    )
    report(Progress(None, "done", cfg.iterations, cfg.iterations), force=True)
    return record


def _point_alignment(curve: records.AlignmentCurve | None, name: str, ref: str) -> dict:
    """A sweep point's agreement with the reference at the initialisation (the first point of ``curve``)."""
    if curve is None:
        return {}
    ref_norm = curve.reference_norm[0]
    if name == ref:
        return {"gradient_norm": ref_norm, "reference_norm": ref_norm}
    g = curve.variants[name]
    return {
        "cosine": g.cosine[0],
        "gradient_norm": g.norm[0],
        "reference_norm": ref_norm,
        "difference_norm": g.difference_norm[0],
    }


def sweep(
    config: RunConfig | dict,
    over: str = "inner_steps",
    values=(1, 2, 3, 5, 7, 10),
    iterations: int = 20,
    on_progress: OnProgress | None = None,
    stop: threading.Event | None = None,
    label: str | None = None,
    launched_from: str = "python",
) -> dict:
    """Time, peak memory, saved-for-backward bytes and gradient alignment against the number of inner
    steps (``over="inner_steps"``) or the inner learning rate (``over="inner_lr"``), every algorithm.

    The path is chosen once, for the first value, and kept for every point. Alignment is measured at
    the initialisation, for each point's setting, on the same probe batch.
    """
    sweepable = [f.name for f in FIELDS if f.sweep]
    if over not in sweepable:
        raise ValueError(f"over: must be one of {', '.join(sweepable)}, got {over!r}")
    base = config if isinstance(config, RunConfig) else RunConfig.from_dict(config)
    stop = stop or threading.Event()
    report = Reporter(on_progress)
    first = base.replace(
        **{over: values[0]}, train_tasks=iterations * base.meta_batch, alignment_points=0, validation_points=0
    )
    s = _set_up(first)
    points = []
    ref = variants.reference_of(first.variants)
    total = len(first.variants) * len(values)
    for value in values:
        cfg = first.replace(**{over: value})
        if stop.is_set():
            break
        report(Progress(None, "sweep", len(points), total, inner_steps=cfg.inner_steps), force=True)
        trained = train(cfg.variants, cfg, s.device, s.data, s.init, s.path, None, stop)
        geometry = None  # the same for every algorithm's point: measured once per setting
        for name, t in trained.items():
            res = t.result
            if not res.iterations_done:
                continue
            saved, curve = _analysis(name, [(0, s.init)] if geometry is None else [], cfg, s)
            geometry = geometry or curve
            memory = peak_memory(name, cfg, s.device, s.data, s.init, s.path)
            points.append(
                records.SweepPoint(
                    name,
                    cfg.inner_steps,
                    res.iterations_done,
                    res.per_iteration_ms_median,
                    memory.increase_bytes,
                    res.status,
                    inner_lr=cfg.inner_lr,
                    autograd_saved_bytes=saved,
                    **_point_alignment(geometry, name, ref),
                )
            )
    sweep_words = (
        f"{iterations} iterations per point, median per-iteration time, peak memory as in compare; alignment at "
        f"the initialisation on a probe batch of {probe_tasks(first, s.device)} training tasks"
    )
    return records.new_record(
        "sweep",
        base,
        measure.environment(s.device),
        label,
        status="stopped" if stop.is_set() else "complete",
        protocol=_protocol(first, s.device, s.path, kind=records.SweepProtocol, sweep=sweep_words, over=over),
        setup=records.Setup(launched_from, s.data.load_s, s.path, s.selection),
        points=points,
    )
