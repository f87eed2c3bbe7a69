"""N-way K-shot task sampling on the device: no per-task Python loop, no DataLoader workers.

All images of one split, with the four 90-degree rotations as extra classes, sit in one uint8
tensor [classes, 20, S, S] on the device (S = 28 or 105); a meta-batch is a handful of batched index ops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import omniglot


def class_images(data: omniglot.Omniglot, characters: np.ndarray, device) -> torch.Tensor:
    """uint8 [len(characters) * 4, 20, S, S] on ``device``; class 4c + r is character c rotated r x 90°."""
    imgs = torch.from_numpy(np.ascontiguousarray(data.images[characters]))
    imgs = torch.stack([torch.rot90(imgs, r, dims=(-2, -1)) for r in range(4)], dim=1).flatten(0, 1)
    return imgs.contiguous().to(device)


@dataclass
class TaskBatch:
    xs: torch.Tensor  # [T, N*K, 1, S, S] float
    ys: torch.Tensor  # [T, N*K] long
    xq: torch.Tensor  # [T, N*Q, 1, S, S]
    yq: torch.Tensor  # [T, N*Q]


class TaskSampler:
    """Draws meta-batches of tasks from ``images`` with its own seeded generator on the device.

    Two samplers built with the same seed yield the same task stream, so MAML and FOMAML train
    on exactly the same tasks.
    """

    def __init__(self, images: torch.Tensor, n_way: int, k_shot: int, k_query: int, seed: int, dtype=torch.float32):
        if n_way > images.shape[0]:
            raise ValueError(f"n_way: must be at most {images.shape[0]} (classes available), got {n_way}")
        self.images, self.n_way, self.k_shot, self.k_query, self.dtype = images, n_way, k_shot, k_query, dtype
        self.device = images.device
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.ys_row = torch.arange(n_way, device=self.device).repeat_interleave(k_shot)
        self.yq_row = torch.arange(n_way, device=self.device).repeat_interleave(k_query)

    def sample(self, tasks: int) -> TaskBatch:
        n, k, q, dev, g = self.n_way, self.k_shot, self.k_query, self.device, self.generator
        n_classes, n_draw = self.images.shape[0], self.images.shape[1]
        # N distinct classes per task and K+Q distinct drawings per class: argsort of uniform noise.
        classes = torch.rand(tasks, n_classes, device=dev, generator=g).argsort(dim=1)[:, :n]
        draws = torch.rand(tasks, n, n_draw, device=dev, generator=g).argsort(dim=2)[:, :, : k + q]
        x = self.images[classes[:, :, None], draws]  # [T, N, K+Q, S, S] uint8
        x = (x.to(self.dtype) / 255.0).unsqueeze(3)  # [T, N, K+Q, 1, S, S]
        side = x.shape[-1]
        xs = x[:, :, :k].reshape(tasks, n * k, 1, side, side)
        xq = x[:, :, k:].reshape(tasks, n * q, 1, side, side)
        return TaskBatch(xs, self.ys_row.expand(tasks, -1).contiguous(), xq, self.yq_row.expand(tasks, -1).contiguous())
