"""Where the app runs and what it may do there: local with a GPU, local on CPU, or hosted.

Hosted mode (no GPU, torch missing, or MAMLVIZ_HOSTED=1) opens on the cached runs; live
training is then offered on CPU with a small config and an honest label, or disabled with the
reason (torch missing, or MAMLVIZ_LIVE_TRAINING=0). Checking for CUDA imports torch, so it is
done once per server, after the first page has started drawing.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass


def _flag(name: str) -> bool | None:
    v = os.environ.get(name, "").strip().lower()
    return True if v in ("1", "true", "yes", "on") else False if v in ("0", "false", "no", "off") else None


@dataclass(frozen=True)
class Capabilities:
    torch: bool
    cuda: bool
    device_name: str
    hosted: bool
    live_training: bool
    reason: str  # why the app is hosted / why live training is limited, for the UI


def _torch_available() -> bool:
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None
    return importlib.util.find_spec("torch") is not None


def detect() -> Capabilities:
    has_torch = _torch_available()
    cuda, name = False, "no torch"
    if has_torch:
        import torch

        cuda = torch.cuda.is_available()
        name = torch.cuda.get_device_name(0) if cuda else "CPU"
    explicit = _flag("MAMLVIZ_HOSTED")
    hosted = explicit if explicit is not None else not cuda
    live_flag = _flag("MAMLVIZ_LIVE_TRAINING")
    if not has_torch:
        return Capabilities(
            False,
            False,
            name,
            True,
            False,
            "PyTorch is not installed on this server, so live training is off: the numbers shown "
            "come from the cached run records.",
        )
    if live_flag is False:
        return Capabilities(
            True,
            cuda,
            name,
            True,
            False,
            "Live training is switched off on this server (MAMLVIZ_LIVE_TRAINING=0): the numbers "
            "shown come from the cached run records.",
        )
    if cuda:
        return Capabilities(True, True, name, hosted, True, f"Training on {name}.")
    return Capabilities(
        True,
        False,
        name,
        hosted,
        True,
        "No GPU here: live training runs on the CPU with a small config, so its times, memory "
        "and accuracy are CPU figures for that config, not the paper's GPU setting; "
        "GPU runs, where recorded, are on the History page.",
    )
