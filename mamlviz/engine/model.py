"""The functional 4-block Omniglot CNN of Finn et al. 2017, parameters as a plain dict.

Each block: 3x3 conv (64 filters) -> batch norm with batch statistics -> ReLU -> 2x2 max-pool
(computed as pool-then-ReLU, which is the same function); 28 -> 14 -> 7 -> 3 -> 1 (64 features), or
at the original 105x105: 105 -> 52 -> 26 -> 13 -> 6 (64 x 6 x 6 = 2304 features), then a linear head.
Batch norm always uses the statistics of the batch it sees ("transductive", as in the MAML paper) and keeps
no running averages, so the model is a pure function of (params, x) and vmaps cleanly over tasks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import config

BLOCKS = 4
FILTERS = 64
BN_EPS = 1e-5


def features(image_size: int = 28) -> int:
    """The head's input size for square images of ``image_size``: 64 channels x the side left after 4 pools."""
    side = image_size
    for _ in range(BLOCKS):
        side //= 2
    if side < 1:
        raise ValueError(f"image_size: must be at least {2**BLOCKS}, got {image_size}")
    return FILTERS * side * side


def init_params(
    n_way: int, seed: int = 0, *, image_size: int = 28, device="cpu", dtype=torch.float32
) -> dict[str, torch.Tensor]:
    """Fresh parameters (PyTorch's default conv/linear init, BN at identity), reproducible by seed; the head
    takes ``features(image_size)`` inputs."""
    g = torch.Generator().manual_seed(seed)
    params: dict[str, torch.Tensor] = {}
    c_in = 1
    for b in range(BLOCKS):
        fan_in = c_in * 9
        bound = 1.0 / math.sqrt(fan_in)
        params[f"conv{b}.weight"] = (torch.rand(FILTERS, c_in, 3, 3, generator=g) * 2 - 1) * bound
        params[f"conv{b}.bias"] = (torch.rand(FILTERS, generator=g) * 2 - 1) * bound
        params[f"bn{b}.weight"] = torch.ones(FILTERS)
        params[f"bn{b}.bias"] = torch.zeros(FILTERS)
        c_in = FILTERS
    n_in = features(image_size)
    bound = 1.0 / math.sqrt(n_in)
    params["head.weight"] = (torch.rand(n_way, n_in, generator=g) * 2 - 1) * bound
    params["head.bias"] = (torch.rand(n_way, generator=g) * 2 - 1) * bound
    return {k: v.to(device=device, dtype=dtype) for k, v in params.items()}


def batch_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, n_stats: int | None = None) -> torch.Tensor:
    """Batch norm over (N, H, W) from primitives; ``n_stats``: normalise every row with the statistics of the
    first ``n_stats`` rows only (the support set's, for the queries after them).

    Not ``F.batch_norm``: under ``torch.func.vmap`` its second-order gradient is wrong
    (functorch issue 534; relative error 1e-3..6e-2 in float64). This form is exact.
    """
    if n_stats is not None:
        seen = x[:n_stats]
        mean = seen.mean(dim=(0, 2, 3), keepdim=True)
        var = ((seen - mean) * (seen - mean)).mean(dim=(0, 2, 3), keepdim=True)
        return (x - mean) * (weight[None, :, None, None] * torch.rsqrt(var + BN_EPS)) + bias[None, :, None, None]
    centred = x - x.mean(dim=(0, 2, 3), keepdim=True)
    var = (centred * centred).mean(dim=(0, 2, 3), keepdim=True)
    return centred * (weight[None, :, None, None] * torch.rsqrt(var + BN_EPS)) + bias[None, :, None, None]


def fused_batch_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Batch norm over (N, H, W) by the native fused op: exact, first and second order, outside ``vmap``
    (the float64 tests check it against ``batch_norm``), and faster there. Not for ``vmap`` (issue 534).

    In the default (NCHW) layout only: in channels-last the CPU kernel's float32 statistics lose digits
    (bench/engine_attempts.py measures its meta-gradients 1-5 % off the float64 ones on real tasks at one inner
    step, against at most 3e-5 in NCHW)."""
    return F.batch_norm(x, None, None, weight, bias, training=True, eps=BN_EPS)


def body(
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    activation=F.relu,
    pool=F.max_pool2d,
    norm=batch_norm,
    stats: torch.Tensor | None = None,
) -> torch.Tensor:
    """Features [N, features(S)] of images ``x`` [N, 1, S, S]: the four blocks, everything but the head.

    ``stats``: images whose batch statistics normalise ``x`` (a task's support set, for its queries: each
    query is then classified on its own, not with the other queries' statistics); they run through the same
    blocks alongside ``x``, with batch norm from primitives.

    ``activation`` and ``pool`` are swappable so the tests can check gradients by finite
    differences on a smooth variant (tanh, average pooling): max-pool switches make the real
    network kinked at scales far below any usable step.
    """
    n = None if stats is None else stats.shape[0]
    h = x if stats is None else torch.cat([stats, x])
    for b in range(BLOCKS):
        h = F.conv2d(h, params[f"conv{b}.weight"], params[f"conv{b}.bias"], padding=1)
        if n is None:
            h = norm(h, params[f"bn{b}.weight"], params[f"bn{b}.bias"])
        else:
            h = batch_norm(h, params[f"bn{b}.weight"], params[f"bn{b}.bias"], n)
        # activation(max_pool(h)) == max_pool(activation(h)) for any increasing activation,
        # and acts on a quarter of the elements (about 15 % faster per meta-step on CPU).
        h = activation(pool(h, 2))
    return (h if n is None else h[n:]).flatten(1)


def head(params: dict[str, torch.Tensor], features: torch.Tensor) -> torch.Tensor:
    """Logits of the linear head on ``features`` [N, F] (ANIL adapts only this)."""
    return F.linear(features, params["head.weight"], params["head.bias"])


HEAD = ("head.weight", "head.bias")


def forward(
    params: dict[str, torch.Tensor],
    x: torch.Tensor,
    activation=F.relu,
    pool=F.max_pool2d,
    norm=batch_norm,
    stats: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits for images ``x`` [N, 1, S, S]: ``head(body(x))`` (``stats``: see ``body``)."""
    return head(params, body(params, x, activation, pool, norm, stats))


# How the per-task loop paths run the body (never under ``vmap``): the native batch norm, exact outside vmap
# (the float64 tests check it against ``batch_norm``, first and second order) and faster there.
FUSED = dict(norm=fused_batch_norm)


def forward_fused(params: dict[str, torch.Tensor], x: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
    """``forward`` as the per-task loop paths run it (``FUSED``); the same function as ``forward``."""
    return forward(params, x, stats=stats, **FUSED)


BATCH_NORM_MODES = config.BATCH_NORM_MODES


class SupportStats:
    """A forward whose queries are normalised with their task's support-set statistics (``query_loss_acc``
    passes the support images as ``stats``): batch-norm mode "support". Every other use (the inner loop's
    support loss) is the forward itself: a support batch's own statistics are the support set's."""

    support_stats = True

    def __init__(self, forward):
        self.forward = forward

    def __call__(self, params, x, stats=None):
        return self.forward(params, x) if stats is None else self.forward(params, x, stats=stats)


def for_mode(mode: str, forward=None):
    """The network's forward for a batch-norm mode: "transductive" (every batch its own statistics, queries
    together, as Finn et al.) or "support" (queries normalised with the support set's statistics)."""
    forward = forward or globals()["forward"]
    if mode not in BATCH_NORM_MODES:
        raise ValueError(f"batch_norm: must be one of {', '.join(BATCH_NORM_MODES)}, got {mode!r}")
    return SupportStats(forward) if mode == "support" else forward


def fused(forward):
    """The same function with the native batch norm, where the forward is the model's (the loop paths)."""
    if forward is globals()["forward"]:
        return forward_fused
    if isinstance(forward, SupportStats) and forward.forward is globals()["forward"]:
        return SupportStats(forward_fused)
    return forward


def query_stats(forward, support):
    """The images whose statistics normalise a task's queries under ``forward``: its support set in batch-norm
    mode "support", else None (the queries' own). The one place the mode is read."""
    return support if getattr(forward, "support_stats", False) else None


def forward_tasks(params: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Logits [T, B, n_way] of T tasks at once, each with its own parameters (leading dim T), images x
    [T, B, 1, S, S]: the tasks become groups of channels (grouped convolutions, per-channel batch norm over
    each task's own batch, a batched head). The same function as ``forward`` task by task, with plain autograd
    (no ``vmap``), so the native batch norm is exact and every task runs in the same few large kernels."""
    t, b = x.shape[:2]
    h = x.transpose(0, 1).reshape(b, t * x.shape[2], *x.shape[3:])  # [B, T*C, H, W]: task-major channels
    for k in range(BLOCKS):
        w = params[f"conv{k}.weight"]  # [T, 64, C, 3, 3]
        h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), params[f"conv{k}.bias"].reshape(-1), padding=1, groups=t)
        h = F.batch_norm(
            h, None, None, params[f"bn{k}.weight"].reshape(-1), params[f"bn{k}.bias"].reshape(-1), True, 0.0, BN_EPS
        )
        h = F.relu(F.max_pool2d(h, 2))
    h = h.reshape(b, t, -1).transpose(0, 1)  # [T, B, F]: task-major channels, then space (as body's flatten)
    return torch.baddbmm(params["head.bias"][:, None, :], h, params["head.weight"].transpose(1, 2))


def count_params(params: dict[str, torch.Tensor]) -> int:
    return sum(p.numel() for p in params.values())


class OmniglotCNN(torch.nn.Module):
    """The same network as an ``nn.Module`` whose parameter names are the dict keys above.

    For code that wants a module (the seed's ``train_maml``); ``forward`` is the functional one,
    so ``torch.func.functional_call`` and ``forward(params, x)`` agree.
    """

    def __init__(self, n_way: int = 5, seed: int = 0, image_size: int = 28):
        super().__init__()
        for name, value in init_params(n_way, seed, image_size=image_size).items():
            owner, attr = name.split(".")
            if not hasattr(self, owner):
                self.add_module(owner, torch.nn.Module())
            getattr(self, owner).register_parameter(attr, torch.nn.Parameter(value))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return forward(dict(self.named_parameters()), x)
