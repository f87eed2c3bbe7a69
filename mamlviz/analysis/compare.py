"""A comparison record in numbers: each variant against the reference (MAML), and which memory figure
judges them. Everything derived from the record's measurements. No torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import variants
from .stats import interval, ratio

SAVED = "autograd_saved_bytes"
PEAK = "peak_memory_bytes"
SAVED_LABEL = "held for backpropagation in one meta-iteration (exact, saved-tensor hooks)"
BUSY = 1.5  # a mean time per iteration this many times the median: the machine was busy during training


def per_iteration(result: dict) -> float | None:
    """A variant's typical time per meta-iteration: the median (robust to a busy moment), else the mean."""
    return result.get("per_iteration_ms_median") or result.get("per_iteration_ms")


def busy(result: dict) -> float | None:
    """Mean over median time per iteration when it says the machine was busy (at least ``BUSY``), else None."""
    mean, median = result.get("per_iteration_ms"), result.get("per_iteration_ms_median")
    return mean / median if mean and median and mean / median >= BUSY else None


def memory_key(records: list[dict]) -> str:
    """The one rule for which memory figure compare records are judged by: on CPU the exact bytes held
    for backpropagation (sampled process memory is noise at this size) when every variant of every record
    has them, else the device's peak allocation."""
    exact = bool(records) and all(
        r["environment"]["device"] == "cpu" and all(res.get(SAVED) is not None for res in r["results"].values())
        for r in records
    )
    return SAVED if exact else PEAK


def memory_label(records: list[dict]) -> str:
    """What ``memory_key`` picked, in words: the exact figure, or the device metrics the records name."""
    if memory_key(records) == SAVED:
        return SAVED_LABEL
    return "; ".join(sorted({r["protocol"]["memory"] for r in records})) or "the device's peak memory"


@dataclass
class Against:
    """One variant against the reference."""

    name: str
    speedup: float | None  # the reference's median time per iteration / this variant's
    memory_ratio: float | None  # the reference's memory / this variant's
    accuracy_diff: float | None  # this variant's test accuracy - the reference's (0..1 units)
    accuracy_diff_ci95: float | None
    paired: bool  # from the same test tasks, task by task


@dataclass
class Comparison:
    reference: str
    names: list[str]  # every variant of the record, in the table's order
    accuracy: dict[str, tuple[float, float] | None]  # name -> (accuracy, ci95)
    versus: dict[str, Against]  # every variant but the reference
    baseline: tuple[float, float] | None
    chance: float
    memory_key: str
    memory_label: str


def _acc(test):
    return (test["accuracy"], test["ci95"]) if test else None


def against(record: dict, name: str, reference: str, memory: str) -> Against:
    res, ref = record["results"][name], record["results"][reference]
    diff = ci = None
    paired = False
    if res.get("test") and ref.get("test"):
        pv, pr = res["test"].get("per_task"), ref["test"].get("per_task")
        if pv and pr and len(pv) == len(pr) and len(pv) > 1:
            diff, ci, _ = interval([a - b for a, b in zip(pv, pr)])  # the same test tasks: a paired difference
            paired = True
        else:
            diff = res["test"]["accuracy"] - ref["test"]["accuracy"]
            ci = math.hypot(res["test"]["ci95"], ref["test"]["ci95"])
    return Against(
        name,
        speedup=ratio(per_iteration(ref), per_iteration(res)),
        memory_ratio=ratio(ref.get(memory), res.get(memory)),
        accuracy_diff=diff,
        accuracy_diff_ci95=ci,
        paired=paired,
    )


def compare_numbers(record: dict) -> Comparison:
    names = variants.in_record(record)
    ref = variants.reference_of(names)
    memory = memory_key([record])
    return Comparison(
        reference=ref,
        names=names,
        accuracy={n: _acc(record["results"][n].get("test")) for n in names},
        versus={n: against(record, n, ref, memory) for n in variants.others(names)},
        baseline=_acc(record.get("baseline")),
        chance=record["chance"],
        memory_key=memory,
        memory_label=memory_label([record]),
    )


def beats(acc: tuple[float, float] | None, ref: tuple[float, float] | None) -> bool:
    """``acc`` above ``ref`` beyond both 95 % intervals."""
    return bool(acc and ref and acc[0] - ref[0] > math.hypot(acc[1], ref[1]))
