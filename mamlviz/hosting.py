"""Where the app runs and what it may do there: local with a GPU, local on CPU, or hosted.

Hosted mode (MAMLVIZ_HOSTED=1, or torch missing) opens on the cached runs; live training is then
offered on CPU within small limits and with an honest label, or disabled with the reason (torch
missing, or MAMLVIZ_LIVE_TRAINING=0). A machine without a GPU is local unless told otherwise.
Nothing here imports torch: the first page must not wait seconds for it.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import settings


def _flag(name: str) -> bool | None:
    """A yes/no environment setting; None when unset (or invalid: the sidebar names it, ``settings.problems``)."""
    return settings.get(name)


@dataclass(frozen=True)
class Capabilities:
    torch: bool
    cuda: bool
    device_name: str
    hosted: bool
    live_training: bool
    reason: str  # why the app is hosted / why live training is limited, for the UI


def _torch_available() -> bool:
    """Installed or already imported, found without importing it (that takes seconds)."""
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None
    return importlib.util.find_spec("torch") is not None


def nvidia_gpu() -> str | None:
    """The first NVIDIA GPU's name, found without importing torch: the driver's files on Linux,
    ``nvidia-smi`` elsewhere; once torch is imported, torch's own answer."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "cuda"):
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    gpus = Path("/proc/driver/nvidia/gpus")
    if sys.platform.startswith("linux"):
        for info in sorted(gpus.glob("*/information")) if gpus.is_dir() else []:
            for line in info.read_text(errors="replace").splitlines():
                if line.startswith("Model:"):
                    return line.split(":", 1)[1].strip()
        return None
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=3
            )
            return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
        except (OSError, subprocess.SubprocessError):
            return None
    return None


def detect() -> Capabilities:
    """What this server can do, decided in milliseconds: torch is not imported here."""
    has_torch = _torch_available()
    gpu = nvidia_gpu() if has_torch else None
    cuda, name = gpu is not None, gpu or ("CPU" if has_torch else "no torch")
    explicit = _flag("MAMLVIZ_HOSTED")
    hosted = explicit if explicit is not None else not has_torch  # a laptop without a GPU is local, not hosted
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
