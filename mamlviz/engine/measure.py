"""What a run is measured with: synchronized clocks, peak memory, and the environment label.

CUDA peak memory is ``max_memory_allocated`` since a reset (CUDA-graph pools included, since
they come from the same caching allocator). CPU has no resettable counter, so a thread samples
the process's resident set every 5 ms; memory is trimmed back to the OS before each algorithm so
that the second one starts from a fair baseline. Both are labelled as what they are.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import gc
import os
import platform
import sys
import threading
import time

import torch


def resolve_device(name: str) -> torch.device:
    """ "auto" -> the GPU when there is one; "cuda" without one is refused with the reason."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was asked for but no CUDA GPU is available (use 'cpu' or 'auto')")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device: must be one of auto, cpu, cuda, got {name!r}")
    return torch.device(name)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def now(device: torch.device) -> float:
    """Host clock after the device has finished everything queued so far."""
    sync(device)
    return time.perf_counter()


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: fall back to the lifetime peak, which only ever grows
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def release_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
    else:
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass


def memory_metric(device: torch.device) -> str:
    """What PeakMemory measures on ``device``, for labels."""
    return (
        "cuda max_memory_allocated (includes CUDA-graph pools)"
        if device.type == "cuda"
        else "process peak RSS increase, sampled every 5 ms"
    )


class PeakMemory:
    """Context manager: ``.peak_bytes`` (absolute) and ``.increase_bytes`` (over the start)."""

    def __init__(self, device: torch.device, interval_s: float = 0.005):
        self.device, self.interval_s = device, interval_s
        self.metric = memory_metric(device)
        self._stop = threading.Event()
        self._peak = 0

    def _sample(self):
        while not self._stop.wait(self.interval_s):
            self._peak = max(self._peak, _rss_bytes())

    def __enter__(self):
        release_memory(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start_bytes = torch.cuda.memory_allocated(self.device)
        else:
            self.start_bytes = self._peak = _rss_bytes()
            self._thread = threading.Thread(target=self._sample, name="mamlviz-rss", daemon=True)
            self._thread.start()
        return self

    def read(self) -> int:
        if self.device.type == "cuda":
            return torch.cuda.max_memory_allocated(self.device)
        return max(self._peak, _rss_bytes())

    def __exit__(self, *exc):
        sync(self.device)
        self.peak_bytes = self.read()
        if self.device.type != "cuda":
            self._stop.set()
            self._thread.join()
        self.increase_bytes = max(0, self.peak_bytes - self.start_bytes)
        return False


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device: torch.device) -> dict:
    """Label for every figure: which device, which software, when."""
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    cpu = cpu_name()
    return {
        "device": device.type,
        "device_name": gpu or f"{cpu} ({torch.get_num_threads()} threads)",
        "gpu": gpu,
        "cpu": cpu,
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
