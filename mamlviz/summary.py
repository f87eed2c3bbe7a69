"""What a run record says, in numbers and in words: ratios, differences, a recommendation.

Everything here is derived from a record's measurements (no canned figures) and is shared by
the CLI summary and the dashboard. No torch import.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

NAMES = {"maml": "MAML", "fomaml": "FOMAML"}
COLORS = {"maml": "#d62728", "fomaml": "#1f77b4"}  # every chart's, Plotly and SVG alike


@dataclass
class Comparison:
    speed_ratio: float | None  # MAML time per iteration / FOMAML time per iteration
    memory_ratio: float | None  # MAML peak / FOMAML peak
    accuracy_diff: float | None  # FOMAML - MAML, in accuracy units (0..1)
    accuracy_diff_ci95: float | None
    paired: bool
    maml_acc: tuple[float, float] | None  # (accuracy, ci95)
    fomaml_acc: tuple[float, float] | None
    baseline: tuple[float, float] | None
    chance: float
    memory_metric: str | None


SAVED_LABEL = "held for backpropagation in one meta-iteration (exact, saved-tensor hooks)"


def memory_key(record: dict) -> str:
    """Which memory figure a compare record is judged by: on CPU the exact saved-for-backward bytes
    (sampled process memory is noise at this size), elsewhere the device's peak allocation."""
    exact = all(record["results"][n].get("autograd_saved_bytes") is not None for n in NAMES)
    return "autograd_saved_bytes" if exact and record["environment"]["device"] == "cpu" else "peak_memory_bytes"


def memory_label(record: dict) -> str:
    if memory_key(record) == "autograd_saved_bytes":
        return SAVED_LABEL
    return record["protocol"]["memory"]


def _acc(test):
    return (test["accuracy"], test["ci95"]) if test else None


def _ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def compare_numbers(record: dict) -> Comparison:
    m, f = record["results"]["maml"], record["results"]["fomaml"]
    diff = ci = None
    paired = False
    if m.get("test") and f.get("test"):
        pm, pf = m["test"].get("per_task"), f["test"].get("per_task")
        if pm and pf and len(pm) == len(pf) and len(pm) > 1:
            d = [b - a for a, b in zip(pm, pf)]  # the same test tasks: a paired difference
            diff, ci, paired = statistics.fmean(d), 1.96 * statistics.stdev(d) / math.sqrt(len(d)), True
        else:
            diff = f["test"]["accuracy"] - m["test"]["accuracy"]
            ci = math.hypot(f["test"]["ci95"], m["test"]["ci95"])
    return Comparison(
        speed_ratio=_ratio(m.get("per_iteration_ms"), f.get("per_iteration_ms")),
        memory_ratio=_ratio(m.get(memory_key(record)), f.get(memory_key(record))),
        accuracy_diff=diff,
        accuracy_diff_ci95=ci,
        paired=paired,
        maml_acc=_acc(m.get("test")),
        fomaml_acc=_acc(f.get("test")),
        baseline=_acc(record.get("baseline")),
        chance=record["chance"],
        memory_metric=memory_label(record),
    )


def alignment_words(record: dict) -> list[str]:
    """What the measured gradient geometry says, one sentence per variant, from the record's curves."""
    out = []
    for name in NAMES:
        a = record["results"][name].get("alignment")
        if not a:
            continue
        first, last = a["cosine"][0], a["cosine"][-1]
        share = a["correction_norm"][-1] / a["maml_norm"][-1] if a["maml_norm"][-1] else float("nan")
        layers = {k: v[-1] for k, v in a["per_layer"].items()}
        worst = min(layers, key=layers.get)
        out.append(
            f"During {NAMES[name]}'s training the cosine between the MAML and FOMAML meta-gradients went from "
            f"{first:+.2f} (initialisation) to {last:+.2f} (iteration {a['iteration'][-1]}); there the Hessian term's "
            f"part has {share:.0%} of the MAML gradient's norm, and the layer where the shortcut points furthest "
            f"away is {worst} (cosine {layers[worst]:+.2f})."
        )
    return out


def memory_words(record: dict) -> str | None:
    """The exact saved-for-backward figures in words, beside the device figure."""
    m, f = (record["results"][n] for n in NAMES)
    if m.get("autograd_saved_bytes") is None or f.get("autograd_saved_bytes") is None:
        return None
    ratio = m["autograd_saved_bytes"] / f["autograd_saved_bytes"] if f["autograd_saved_bytes"] else float("nan")
    return (
        f"Held for backpropagation in one meta-iteration: MAML {fmt_bytes(m['autograd_saved_bytes'])}, FOMAML "
        f"{fmt_bytes(f['autograd_saved_bytes'])} ({ratio:.1f}×, exact). Device peak ({record['protocol']['memory']}): "
        f"MAML {fmt_bytes(m['peak_memory_bytes'])}, FOMAML {fmt_bytes(f['peak_memory_bytes'])}."
    )


def ratio_words(c: Comparison) -> str:
    """E.g. 'FOMAML 2.9× faster, 34 % less memory, 3.0 ± 1.1 points less accurate'."""
    parts = []
    if c.speed_ratio is not None:
        r = c.speed_ratio
        parts.append(f"{r:.1f}× faster" if r >= 1 else f"{1 / r:.1f}× slower")
    if c.memory_ratio is not None:
        saving = 1 - 1 / c.memory_ratio
        parts.append(f"{abs(saving) * 100:.0f} % {'less' if saving >= 0 else 'more'} memory")
    if c.accuracy_diff is not None:
        d = c.accuracy_diff * 100
        parts.append(f"{abs(d):.1f} ± {c.accuracy_diff_ci95 * 100:.1f} points {'more' if d >= 0 else 'less'} accurate")
    return ("FOMAML " + ", ".join(parts)) if parts else "no complete comparison in this record"


def _beats(acc: tuple[float, float] | None, ref: tuple[float, float] | None) -> bool:
    return bool(acc and ref and acc[0] - ref[0] > math.hypot(acc[1], ref[1]))


def warnings(record: dict) -> list[str]:
    """What a reader must know before trusting a compare record's numbers, in words."""
    out = []
    for name, r in record["results"].items():
        if r.get("unstable"):
            out.append(
                f"{NAMES[name]}'s training was unstable: its loss rose to {r['loss_growth']:,.0f}× its starting "
                "value without becoming infinite. Its numbers are not a fair picture of the method; lower the "
                "learning rates."
            )
    if record["setup"].get("evaluation") == "skipped":
        out.append("Evaluation was skipped when the run was stopped: there are no test accuracies.")
    return out


def fairness_words(record: dict) -> str:
    """How the two were made comparable, with the tasks each saw."""
    m, f = (record["results"][n] for n in NAMES)
    if record["config"].get("fairness", "tasks") != "time":
        return "Compared on the same training tasks"
    more = f"{f['tasks_seen'] / m['tasks_seen']:.1f}×" if m["tasks_seen"] else "more"
    return f"Compared at equal training time (FOMAML saw {more} the tasks: {f['tasks_seen']} vs {m['tasks_seen']})"


def recommendation(record: dict) -> str:
    """A recommendation computed from the measured numbers only, saying which fairness it used."""
    return f"{fairness_words(record)}. {_recommendation(record)}"


def _recommendation(record: dict) -> str:
    c = compare_numbers(record)
    unstable = [NAMES[a] for a, r in record["results"].items() if r.get("unstable")]
    if unstable:
        return (
            f"No recommendation: training was unstable for {' and '.join(unstable)} (the loss grew by an order of "
            "magnitude or more). Lower the inner or outer learning rate and run again."
        )
    if c.maml_acc is None or c.fomaml_acc is None:
        untested = {a: r["status"] for a, r in record["results"].items() if not r["test"]}
        if record["setup"].get("evaluation") == "skipped":
            return "No recommendation: the evaluation was skipped, so there are no test accuracies to compare."
        return (
            f"No recommendation: {' and '.join(NAMES[a] for a in untested)} has no test result "
            f"({', '.join(untested.values())})."
        )
    if not (_beats(c.maml_acc, c.baseline) or _beats(c.fomaml_acc, c.baseline)):
        return (
            f"Neither variant beats the un-meta-trained initialisation ({c.baseline[0] * 100:.1f} %) beyond "
            "the 95 % intervals: train longer before choosing."
        )
    speed = f"{c.speed_ratio:.1f}×" if c.speed_ratio else "?"
    mem = f"{(1 - 1 / c.memory_ratio) * 100:.0f} %" if c.memory_ratio else "?"
    d, ci = c.accuracy_diff * 100, c.accuracy_diff_ci95 * 100
    if abs(d) <= ci:
        if c.speed_ratio and c.speed_ratio >= 1.1:
            return (
                f"FOMAML: accuracy is the same within noise ({d:+.1f} ± {ci:.1f} points) and each iteration "
                f"is {speed} faster with {mem} less memory."
            )
        return (
            f"Either: accuracy is the same within noise ({d:+.1f} ± {ci:.1f} points) and FOMAML saves "
            f"little time here ({speed} per iteration)."
        )
    if d < 0:
        return (
            f"MAML, if {-d:.1f} ± {ci:.1f} points matter: second order is more accurate here, at {speed} "
            f"the time per iteration and {c.memory_ratio:.1f}× the memory. FOMAML when time or memory "
            "is the limit."
        )
    return (
        f"FOMAML: more accurate here ({d:+.1f} ± {ci:.1f} points) and {speed} faster per iteration; "
        "second order did not pay off in this setting."
    )


def fmt_bytes(b) -> str:
    """Bytes as MiB, or a dash when not measured."""
    if b is None:
        return "–"
    return f"{b / 2**20:,.1f} MiB" if b < 10 * 2**20 else f"{b / 2**20:,.0f} MiB"


def fmt_accuracy(t) -> str:
    """A test result as '74.9 ± 3.9 %', or a dash when there is none."""
    return "–" if not t else f"{t['accuracy'] * 100:.1f} ± {t['ci95'] * 100:.1f} %"


def _fmt(v, spec, unit=""):
    return "–" if v is None else f"{v:{spec}}{unit}"


def text_report(record: dict) -> str:
    """The CLI summary: a small table, the ratios in words, the recommendation, the labels."""
    m, f = record["results"]["maml"], record["results"]["fomaml"]
    rows = [
        ("status", *(r["status"] + (" (unstable)" if r.get("unstable") else "") for r in (m, f))),
        (
            "iterations",
            f"{m['iterations_done']}/{m['iterations_planned']}",
            f"{f['iterations_done']}/{f['iterations_planned']}",
        ),
        ("training time", _fmt(m["train_time_s"], ".1f", " s"), _fmt(f["train_time_s"], ".1f", " s")),
        ("per iteration", _fmt(m["per_iteration_ms"], ".1f", " ms"), _fmt(f["per_iteration_ms"], ".1f", " ms")),
        ("peak memory", fmt_bytes(m["peak_memory_bytes"]), fmt_bytes(f["peak_memory_bytes"])),
        ("final train loss", _fmt(m["final_train_loss"], ".3f"), _fmt(f["final_train_loss"], ".3f")),
        ("test accuracy", fmt_accuracy(m.get("test")), fmt_accuracy(f.get("test"))),
        (
            "over chance",
            *(
                f"{t['over_chance'] * 100:+.1f} points" if t and "over_chance" in t else "–"
                for t in (m.get("test"), f.get("test"))
            ),
        ),
    ]
    w = max(len(r[0]) for r in rows) + 2
    lines = [f"{'':{w}}{'MAML':>18}{'FOMAML':>18}"] + [f"{a:{w}}{b:>18}{c:>18}" for a, b, c in rows]
    env, proto, cfg = record["environment"], record["protocol"], record["config"]
    base = record.get("baseline")
    lines += [f"warning: {w}" for w in warnings(record)]
    lines += [""] + [f"memory: {w}" for w in [memory_words(record)] if w]
    lines += [f"alignment: {w}" for w in alignment_words(record)]
    lines += [
        "",
        f"fairness: {record['protocol']['fairness']}",
        f"baseline (initialisation adapted the same way): {fmt_accuracy(base)}; chance {record['chance'] * 100:.1f} %",
        ratio_words(compare_numbers(record)),
        "recommendation: " + recommendation(record),
        "",
        f"device: {env['device_name']} | torch {env['torch']} | path {proto.get('path')} | {env['date']}",
        f"protocol: {proto['task']}; inner lr {cfg['inner_lr']}, {proto['train_inner_steps']} inner step(s) "
        f"in training, {proto['test_inner_steps']} at test; {proto['test_tasks']} test tasks; {proto['batch_norm']}",
        f"device memory: {proto['memory']}",
    ]
    return "\n".join(lines)


def report(record: dict) -> str:
    """The text summary of any record: a comparison, a sweep or a study."""
    if record["kind"] == "study":
        from .study import study_report  # study builds on this module

        return study_report(record)
    return text_report(record) if record["kind"] == "compare" else sweep_report(record)


def sweep_report(record: dict) -> str:
    """The sweep as text: time, memory and gradient alignment per point."""
    head = (
        "algorithm",
        "inner steps",
        "inner lr",
        "ms/iteration",
        "peak memory",
        "saved (exact)",
        "cosine",
        "correction",
    )
    widths = (10, 12, 10, 14, 14, 15, 8, 12)
    lines = ["".join(f"{h:>{w}}" if i else f"{h:{w}}" for i, (h, w) in enumerate(zip(head, widths)))]
    for p in record["points"]:
        cells = (
            NAMES[p["algorithm"]],
            p["inner_steps"],
            _fmt(p["inner_lr"], "g"),
            _fmt(p["per_iteration_ms"], ".1f"),
            fmt_bytes(p["peak_memory_bytes"]),
            fmt_bytes(p["autograd_saved_bytes"]),
            _fmt(p["cosine"], "+.3f"),
            _fmt(p["correction_norm"], ".3g"),
        )
        lines.append("".join(f"{c:>{w}}" if i else f"{c:{w}}" for i, (c, w) in enumerate(zip(cells, widths))))
    env = record["environment"]
    lines.append(f"device: {env['device_name']} | torch {env['torch']} | {record['protocol']['sweep']}")
    lines.append(f"saved (exact): {record['protocol']['saved_memory']}")
    return "\n".join(lines)
