"""The Omniglot array (28x28 shipped, or the 105x105 originals) on the device, split into meta-training and test
classes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .. import omniglot
from . import measure
from .tasks import class_images

SPLIT_SEED = 0


@dataclass
class Data:
    train: torch.Tensor  # uint8 [4800, 20, S, S] on the device: 1,200 characters x 4 rotations
    test: torch.Tensor  # uint8 [1692, 20, S, S]: 423 characters x 4 rotations
    load_s: float

    @property
    def image_size(self) -> int:
        return self.train.shape[-1]


def load_data(device: torch.device, image_size: int = 28) -> Data:
    """The array at ``image_size`` (28: shipped; 105: built once from the original images and cached), split
    1,200/423 characters (fixed seed), with rotations, on the device."""
    t0 = time.perf_counter()
    data = omniglot.load_size(image_size)
    train_chars, test_chars = omniglot.split_characters(SPLIT_SEED)
    train, test = class_images(data, train_chars, device), class_images(data, test_chars, device)
    measure.sync(device)
    return Data(train, test, time.perf_counter() - t0)
