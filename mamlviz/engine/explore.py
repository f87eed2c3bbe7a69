"""The adaptation explorer's computations: a run's saved networks, adapted to held-out tasks step by step.

"MAML learns an initialisation that adapts fast" is a claim about what happens during the inner
loop at test time; this measures it: query accuracy and loss after 0, 1, ..., K inner steps, for
the initialisation and every meta-trained network of a run, on one task or averaged over the run's
own evaluation tasks.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import records
from ..analysis.stats import interval
from ..config import RunConfig
from . import algorithms, model
from .data import Data
from .evaluate import test_batches
from .tasks import TaskBatch, TaskSampler


class ParamsError(ValueError):
    """A run's parameter file is missing, altered or not what the record says."""


def _read_exactly(path: Path, size: int, name: str) -> bytes:
    """The file's bytes, after checking it is a regular file of the size the record says: a file of the wrong
    size is refused before a byte of it is hashed, a FIFO or a device is never read."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ParamsError(f"its parameter file {name} is missing") from None
    except OSError as e:
        raise ParamsError(f"its parameter file {name} cannot be read ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        raise ParamsError(f"its parameter file {name} is not a regular file")
    if st.st_size != size:
        raise ParamsError(f"its parameter file {name} has {st.st_size:,} bytes; the record says {size:,}")
    try:
        data = records.read_limited(path, limit=size)  # never a FIFO or a device, never past the size
    except records.RecordError as e:
        raise ParamsError(f"its parameter file {name}: {e.reason}") from None
    if len(data) != size:
        raise ParamsError(f"its parameter file {name} changed while it was read")
    return data


def load_params(record_path: str | Path, record: dict) -> dict[str, dict[str, torch.Tensor]]:
    """model ("init" and the variants' names) -> parameters, from the safetensors file beside the record.

    Nothing in the file is trusted by its hash alone: its size is checked before it is hashed, it is loaded
    from the very bytes that were hashed (no pickle anywhere), and every tensor must be one the record's
    config implies, with its shape, float32, and finite; a message names the tensor that is not."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    ref = record.get("params_file")
    if not ref:
        raise ParamsError("this run saved no parameters (runs before version 2, or made through the Python API)")
    name = ref["file"]
    data = _read_exactly(Path(record_path).parent / name, ref["bytes"], name)
    if hashlib.sha256(data).hexdigest() != ref["sha256"]:
        raise ParamsError(f"its parameter file {name} does not match the record (sha256 differs)")
    try:
        flat = load(data)
    except (SafetensorError, ValueError, RuntimeError) as e:
        raise ParamsError(f"its parameter file {name} cannot be read ({e})") from None
    models = ref["models"]
    trained = set(record.get("results", {}))
    if "init" not in models or not set(models) - {"init"}:
        raise ParamsError(f"its parameter file {name} must hold the initialisation and a trained network")
    strange = [m for m in models if m != "init" and m not in trained]
    if strange:
        raise ParamsError(f"its parameter file {name} names a network the run did not train: {strange[0]}")
    cfg = record["config"]
    net = model.init_params(cfg["n_way"], image_size=cfg.get("image_size", 28))
    expected = {  # each network's entries: the plain network's, and what its algorithm learns besides
        m: {
            k: tuple(v.shape)
            for k, v in (
                net if m == "init" else algorithms.get(m).complete(net, cfg["inner_lr"], cfg["inner_steps"])
            ).items()
        }
        for m in models
    }
    wanted = {f"{m}/{k}" for m in models for k in expected[m]}
    extra = sorted(set(flat) - wanted)
    if extra:
        raise ParamsError(f"its parameter file {name} has a tensor the record does not name: {extra[0]}")
    out = {}
    for m in models:
        params = {}
        for k, shape in expected[m].items():
            t = flat.get(f"{m}/{k}")
            where = f"its parameter file {name}: {m}/{k}"
            if t is None:
                raise ParamsError(f"{where} is missing")
            if t.dtype != torch.float32:
                raise ParamsError(f"{where} is {str(t.dtype).removeprefix('torch.')}, expected float32")
            if tuple(t.shape) != shape:
                raise ParamsError(f"{where} has shape {tuple(t.shape)}, expected {shape} for this run's config")
            if not bool(torch.isfinite(t).all()):
                raise ParamsError(f"{where} holds values that are not finite (NaN or infinite)")
            params[k] = t
        out[m] = params
    return out


def _trace(params, xs, ys, xq, yq, inner_lr: float, steps: int, algorithm: str = "maml", batch_norm="transductive"):
    """Query loss, accuracy and per-image correctness after 0..steps inner steps, one task: the inner loop of
    ``algorithm`` (plain autograd, one step at a time, on CPU 2-3x faster than vmap over tasks), observed after
    each step; the queries normalised as the run's ``batch_norm`` mode says."""
    stats = model.query_stats(model.for_mode(batch_norm), xs)
    losses, accs, correct = [], [], []

    def observe(k, fast):
        with torch.no_grad():
            logits = model.forward(fast, xq, stats=stats)
            hit = logits.argmax(-1) == yq
            losses.append(F.cross_entropy(logits, yq))
            correct.append(hit)
            accs.append(hit.float().mean())

    algorithms.get(algorithm).adapt(params, xs, ys, inner_lr=inner_lr, inner_steps=steps, how="const", trace=observe)
    return torch.stack(losses), torch.stack(accs), torch.stack(correct)


def _algorithm(model_name: str) -> str:
    """The inner loop a saved network adapts by: its algorithm's; the initialisation takes plain steps."""
    return "maml" if model_name == "init" else model_name


def test_task(data: Data, cfg: RunConfig, task_seed: int) -> TaskBatch:
    """One held-out task, the same for every model, chosen by ``task_seed``."""
    return TaskSampler(data.test, cfg.n_way, cfg.k_shot, cfg.k_query, seed=task_seed).sample(1)


def adapt_one(
    models: dict, task: TaskBatch, inner_lr: float, steps: int, batch_norm: str = "transductive"
) -> dict[str, dict]:
    """model -> {"loss": [K+1], "accuracy": [K+1], "correct": [K+1][queries]} on one task."""
    out = {}
    with torch.enable_grad():
        for name, params in models.items():
            loss, acc, correct = _trace(
                params, task.xs[0], task.ys[0], task.xq[0], task.yq[0], inner_lr, steps, _algorithm(name), batch_norm
            )
            out[name] = {"loss": loss.tolist(), "accuracy": acc.tolist(), "correct": correct.tolist()}
    return out


def adapt_many(models: dict, data: Data, cfg: RunConfig, steps: int, tasks: int) -> dict[str, dict]:
    """model -> {"accuracy": mean over tasks after 0..K steps, "ci95": its 95 % half-width, "tasks": n}, on
    the first ``tasks`` held-out tasks drawn as ``evaluate`` draws them on CPU: for a CPU run, the very
    tasks its evaluation used (a GPU's random stream differs)."""
    batches, drawn = [], 0
    for batch in test_batches(data, cfg, torch.device("cpu")):  # drawn as the run's evaluation drew them
        batches.append(TaskBatch(*(t[: tasks - drawn] for t in (batch.xs, batch.ys, batch.xq, batch.yq))))
        drawn += batches[-1].xs.shape[0]
        if drawn >= tasks:
            break
    out = {}
    with torch.enable_grad():
        for name, params in models.items():
            accs = torch.stack(
                [
                    _trace(
                        params,
                        b.xs[t],
                        b.ys[t],
                        b.xq[t],
                        b.yq[t],
                        cfg.inner_lr,
                        steps,
                        _algorithm(name),
                        cfg.batch_norm,
                    )[1]
                    for b in batches
                    for t in range(b.xs.shape[0])
                ]
            )  # [tasks, K+1]
            per_step = [interval(accs[:, k].tolist()) for k in range(accs.shape[1])]
            out[name] = {
                "accuracy": [m for m, _, _ in per_step],
                "ci95": [ci or 0.0 for _, ci, _ in per_step],
                "tasks": accs.shape[0],
            }
    return out
