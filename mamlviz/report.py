"""Every record in words: the sentences the pages show and the text reports ``show`` prints, for a
comparison, a sweep or a study. Everything is derived from a record's measurements through
``mamlviz.analysis`` (no canned figures); every variant is compared against the reference (MAML).
No torch.
"""

from __future__ import annotations

from . import variants
from .analysis import compare as cmp
from .analysis import study as study_
from .analysis.sweep import slope, sweep_variants
from .config import BY_NAME
from .records import RUN_STATES

# ---- formatting ----------------------------------------------------------------------------------------


def fmt_bytes(b) -> str:
    """Bytes as MiB, or a dash when not measured."""
    if b is None:
        return "–"
    return f"{b / 2**20:,.1f} MiB" if b < 10 * 2**20 else f"{b / 2**20:,.0f} MiB"


def fmt_accuracy(t) -> str:
    """A test result as '74.9 ± 3.9 %', or a dash when there is none."""
    return "–" if not t else f"{t['accuracy'] * 100:.1f} ± {t['ci95'] * 100:.1f} %"


def fmt(v, spec, unit="") -> str:
    return "–" if v is None else f"{v:{spec}}{unit}"


def pm(s: dict | None, scale: float = 1.0, spec: str = ".1f", unit: str = "", signed: bool = False) -> str:
    """A Stat as '76.3 ± 4.0 %' ('+3.5 ± 11.0' when ``signed``; without the interval from one seed); a dash
    when there is none."""
    if not s:
        return "–"
    ci = "" if not s["ci95"] else f" ± {s['ci95'] * scale:{spec}}"  # none from one seed; none when exact
    return f"{s['mean'] * scale:{'+' if signed else ''}{spec}}{ci}{unit}"


def sentence(words: str) -> str:
    """``words`` with a capital first letter, the rest as written ("peak RSS increase" -> "Peak RSS increase")."""
    return words[:1].upper() + words[1:]


SAME_WITHIN = 1.05  # a ratio closer to 1 than this reads "as fast" / "the same": "1.0× slower" says nothing


def speed_words(speedup: float) -> str:
    if 1 / SAME_WITHIN < speedup < SAME_WITHIN:
        return f"as fast to within {abs(1 - speedup) * 100:.0f} %"
    return f"{speedup:.1f}× faster" if speedup >= 1 else f"{1 / speedup:.1f}× slower"


def memory_saving_words(memory_ratio: float) -> str:
    saving = 1 - 1 / memory_ratio
    return f"{abs(saving) * 100:.0f} % {'less' if saving >= 0 else 'more'} memory"


L = variants.label


# ---- a comparison ----------------------------------------------------------------------------------------


def ratio_words(c: cmp.Comparison) -> list[str]:
    """One line per variant against the reference, e.g. 'FOMAML against MAML: 2.9× faster, 34 % less memory,
    3.0 ± 1.1 points less accurate'."""
    out = []
    for name, a in c.versus.items():
        parts = []
        if a.speedup is not None:
            parts.append(speed_words(a.speedup))
        if a.memory_ratio is not None:
            parts.append(memory_saving_words(a.memory_ratio))
        if a.accuracy_diff is not None:
            d = a.accuracy_diff * 100
            parts.append(
                f"{abs(d):.1f} ± {a.accuracy_diff_ci95 * 100:.1f} points {'more' if d >= 0 else 'less'} accurate"
            )
        if parts:
            out.append(f"{L(name)} against {L(c.reference)}: " + ", ".join(parts))
    return out or ["no complete comparison in this record"]


def warnings(record: dict) -> list[str]:
    """What a reader must know before trusting a compare record's numbers, in words."""
    out = []
    for name in variants.in_record(record):
        r = record["results"][name]
        if r.get("unstable"):
            out.append(
                f"{L(name)}'s training was unstable: its loss rose to {r['loss_growth']:,.0f}× its starting "
                "value without becoming infinite. Its numbers are not a fair picture of the method; lower the "
                "learning rates."
            )
    for name in variants.in_record(record):
        spread = cmp.busy(record["results"][name])
        if spread:
            out.append(
                f"The machine was busy while {L(name)} trained: its mean time per iteration is {spread:.1f}× its "
                "median. Speed ratios here use medians, but on a quiet machine the times would be lower."
            )
    if record["setup"].get("evaluation") == "skipped":
        out.append("Evaluation was skipped when the run was stopped: there are no test accuracies.")
    return out


def fairness_words(record: dict) -> str:
    """How the variants were made comparable, with the tasks each saw."""
    if record["config"].get("fairness", "tasks") != "time":
        return "Compared on the same training tasks"
    names = variants.in_record(record)
    ref = variants.reference_of(names)
    m = record["results"][ref]
    seen = []
    for name in variants.others(names):
        f = record["results"][name]
        more = f"{f['tasks_seen'] / m['tasks_seen']:.1f}×" if m["tasks_seen"] else "more"
        seen.append(f"{L(name)} saw {more} the tasks: {f['tasks_seen']} vs {m['tasks_seen']}")
    return "Compared at equal training time" + (f" ({'; '.join(seen)})" if seen else "")


def recommendation(record: dict) -> str:
    """A recommendation computed from the measured numbers only, saying which fairness it used."""
    return f"{fairness_words(record)}. {_recommendation(record)}"


def _pair_advice(c: cmp.Comparison, name: str) -> str:
    """Which of ``name`` and the reference, from the paired accuracy difference and the measured costs."""
    a, ref, x = c.versus[name], L(c.reference), L(name)
    speed = speed_words(a.speedup) if a.speedup else "? faster"
    mem = memory_saving_words(a.memory_ratio) if a.memory_ratio else "? less memory"
    d, ci = a.accuracy_diff * 100, a.accuracy_diff_ci95 * 100
    if abs(d) <= ci:
        if a.speedup and a.speedup >= 1.1:
            return (
                f"{x}: the same accuracy as {ref} within noise ({d:+.1f} ± {ci:.1f} points), each iteration "
                f"{speed}, {mem}."
            )
        return (
            f"Either {x} or {ref}: the same accuracy within noise ({d:+.1f} ± {ci:.1f} points), and {x} saves "
            f"little time here ({speed} per iteration)."
        )
    if d < 0:
        cost = f"{a.speedup:.1f}× {x}'s time per iteration" if a.speedup else "more time per iteration"
        mem_cost = f"{a.memory_ratio:.1f}× its memory" if a.memory_ratio else "more memory"
        return (
            f"{ref}, if {-d:.1f} ± {ci:.1f} points matter: it is more accurate than {x} here, at {cost} and "
            f"{mem_cost}; {x} when time or memory is the limit."
        )
    return f"{x}: more accurate than {ref} here ({d:+.1f} ± {ci:.1f} points) and {speed} per iteration."


def _recommendation(record: dict) -> str:
    c = cmp.compare_numbers(record)
    unstable = [L(n) for n in c.names if record["results"][n].get("unstable")]
    if unstable:
        return (
            f"No recommendation: training was unstable for {' and '.join(unstable)} (the loss grew by an order of "
            "magnitude or more). Lower the inner or outer learning rate and run again."
        )
    if any(acc is None for acc in c.accuracy.values()):
        if record["setup"].get("evaluation") == "skipped":
            return "No recommendation: the evaluation was skipped, so there are no test accuracies to compare."
        untested = {n: record["results"][n]["status"] for n, acc in c.accuracy.items() if acc is None}
        return (
            f"No recommendation: {' and '.join(L(n) for n in untested)} has no test result "
            f"({', '.join(untested.values())})."
        )
    if not c.versus:
        return f"Only {L(c.reference)} ran: nothing to compare it with."
    if not any(cmp.beats(acc, c.baseline) for acc in c.accuracy.values()):
        who = "Neither variant" if len(c.names) == 2 else "No variant"
        return (
            f"{who} beats the un-meta-trained initialisation ({c.baseline[0] * 100:.1f} %) beyond "
            "the 95 % intervals: train longer before choosing."
        )
    return " ".join(_pair_advice(c, n) for n in c.versus)


def peak_words(record: dict) -> str:
    """What the sampled memory figure is on the record's device: the GPU's peak, or on CPU the process's."""
    return "device peak" if record["environment"]["device"] == "cuda" else "peak RSS increase"


def memory_words(record: dict) -> str | None:
    """The exact held-for-backpropagation figures in words, beside the device figure."""
    names = variants.in_record(record)
    res = record["results"]
    if any(res[n].get("autograd_saved_bytes") is None for n in names):
        return None
    ref = variants.reference_of(names)
    held = []
    for n in names:
        b = res[n]["autograd_saved_bytes"]
        times = ""
        if n != ref and b:
            r = res[ref]["autograd_saved_bytes"] / b
            if 1 / SAME_WITHIN < r < SAME_WITHIN:
                times = f" (about as much as {L(ref)})"
            else:
                times = f" ({r:.1f}× less than {L(ref)})" if r >= 1 else f" ({1 / r:.1f}× more than {L(ref)})"
        held.append(f"{L(n)} {fmt_bytes(b)}{times}")
    peaks = ", ".join(f"{L(n)} {fmt_bytes(res[n]['peak_memory_bytes'])}" for n in names)
    return (
        f"Held for backpropagation in one meta-iteration (exact): {', '.join(held)}. "
        f"{sentence(peak_words(record))} ({record['protocol']['memory']}): {peaks}."
    )


def alignment_words(record: dict) -> list[str]:
    """What the measured gradient geometry says: one sentence per variant compared with the reference, from the
    curve measured during that variant's own training (else during the reference's)."""
    out = []
    res = record["results"]
    names = variants.in_record(record)

    def measured(owner, other):
        a = (res.get(owner) or {}).get("alignment")
        return a is not None and other in a["variants"]

    for other in variants.others(names):
        owner = next((o for o in (other, variants.reference_of(names)) if measured(o, other)), None)
        if owner is None:
            continue
        a = res[owner]["alignment"]
        ref, g = a["reference"], a["variants"][other]
        share = g["difference_norm"][-1] / a["reference_norm"][-1] if a["reference_norm"][-1] else float("nan")
        layers = {k: v[-1] for k, v in g["per_layer"].items()}
        worst = min(layers, key=layers.get) if layers else "–"
        first_order = other in variants.VARIANTS and variants.get(other).first_order
        gap = (
            f"the part {L(other)} leaves out has {share:.0%} of the {L(ref)} gradient's norm"
            if first_order
            else f"the difference from {L(ref)}'s gradient has {share:.0%} of its norm"
        )
        out.append(
            f"During {L(owner)}'s training the cosine between the {L(ref)} and {L(other)} meta-gradients went "
            f"from {g['cosine'][0]:+.2f} (initialisation) to {g['cosine'][-1]:+.2f} (iteration "
            f"{a['iteration'][-1]}); there {gap}, and the layer where {L(other)} points furthest away is {worst} "
            f"(cosine {layers.get(worst, float('nan')):+.2f})."
        )
    return out


def text_report(record: dict) -> str:
    """The CLI summary: a column per variant, the ratios in words, the recommendation, the labels."""
    names = variants.in_record(record)
    res = [record["results"][n] for n in names]
    rows = [
        ("status", *(r["status"] + (" (unstable)" if r.get("unstable") else "") for r in res)),
        ("iterations", *(f"{r['iterations_done']}/{r['iterations_planned']}" for r in res)),
        ("training time", *(fmt(r["train_time_s"], ".1f", " s") for r in res)),
        ("per iteration (median)", *(fmt(cmp.per_iteration(r), ".1f", " ms") for r in res)),
        ("held for backprop", *(fmt_bytes(r.get("autograd_saved_bytes")) for r in res)),
        (peak_words(record), *(fmt_bytes(r["peak_memory_bytes"]) for r in res)),
        ("final train loss", *(fmt(r["final_train_loss"], ".3f") for r in res)),
        ("test accuracy", *(fmt_accuracy(r.get("test")) for r in res)),
        (
            "over chance",
            *(f"{r['test']['over_chance'] * 100:+.1f} points" if r.get("test") else "–" for r in res),
        ),
    ]
    w = max(len(r[0]) for r in rows) + 2
    lines = [f"{'':{w}}" + "".join(f"{L(n):>18}" for n in names)]
    lines += [f"{row[0]:{w}}" + "".join(f"{v:>18}" for v in row[1:]) for row in rows]
    env, proto, cfg = record["environment"], record["protocol"], record["config"]
    lines += [f"warning: {w}" for w in warnings(record)]
    lines += [""] + [f"memory: {w}" for w in [memory_words(record)] if w]
    lines += [f"alignment: {w}" for w in alignment_words(record)]
    lines += [
        "",
        f"fairness: {proto['fairness']}",
        f"baseline (initialisation adapted the same way): {fmt_accuracy(record.get('baseline'))}; "
        f"chance {record['chance'] * 100:.1f} %",
        *ratio_words(cmp.compare_numbers(record)),
        "recommendation: " + recommendation(record),
        "",
        f"device: {env['device_name']} | torch {env['torch']} | path {proto.get('path')} | {env['date']}",
        f"protocol: {proto['task']}; inner lr {cfg['inner_lr']}, {proto['train_inner_steps']} inner step(s) "
        f"in training, {proto['test_inner_steps']} at test; {proto['test_tasks']} test tasks; {proto['batch_norm']}",
        f"device memory: {proto['memory']}",
    ]
    return "\n".join(lines)


def curves_csv(record: dict) -> str:
    """The training curves of a compare record as CSV (one row per stored point)."""
    lines = ["algorithm,iteration,time_s,loss,accuracy"]
    for name in variants.in_record(record):
        c = record["results"][name]["curve"]
        for row in zip(c["iteration"], c["time_s"], c["loss"], c["accuracy"]):
            lines.append(f"{name},{row[0]},{row[1]:.6g},{row[2]:.6g},{row[3]:.6g}")
    return "\n".join(lines) + "\n"


# ---- a sweep -----------------------------------------------------------------------------------------------


def sweep_words(points: list[dict], over: str = "inner_steps") -> list[str]:
    """Sentences about the measured trends, e.g. 'MAML: +12.3 MiB held for backprop per extra inner step'."""
    names = variants.ordered(p["algorithm"] for p in points)
    out = []
    if over == "inner_steps":
        for alg in names:
            ms, saved = slope(points, alg, "per_iteration_ms"), slope(points, alg, "autograd_saved_bytes")
            peak = slope(points, alg, "peak_memory_bytes")
            parts = [f"{ms:+,.1f} ms per iteration"] if ms is not None else []
            if saved is not None:
                parts.append(f"{saved / 2**20:+,.1f} MiB held for backprop (exact)")
            if peak is not None:
                parts.append(f"{peak / 2**20:+,.1f} MiB device peak")
            if parts:
                out.append(f"{L(alg)}: {', '.join(parts)} per extra inner step (least-squares slopes over the points)")
    ref = variants.reference_of(names)
    what = "inner steps" if over == "inner_steps" else "inner learning rate"
    for alg in variants.others(names):
        aligned = sorted(
            (p[over], p["cosine"], p["difference_norm"])
            for p in points
            if p["algorithm"] == alg and p.get("cosine") is not None
        )
        if len(aligned) >= 2:
            (x0, c0, n0), (x1, c1, n1) = aligned[0], aligned[-1]
            out.append(
                f"Gradient alignment at the initialisation: from {what} {x0:g} to {x1:g} the cosine between the "
                f"{L(ref)} and {L(alg)} meta-gradients goes from {c0:+.3f} to {c1:+.3f} and the norm of what "
                f"{L(alg)} leaves out from {n0:.3g} to {n1:.3g}."
            )
    return out


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
        "left out",
    )
    widths = (10, 12, 10, 14, 14, 15, 8, 12)
    lines = ["".join(f"{h:>{w}}" if i else f"{h:{w}}" for i, (h, w) in enumerate(zip(head, widths)))]
    for p in record["points"]:
        cells = (
            L(p["algorithm"]),
            p["inner_steps"],
            fmt(p["inner_lr"], "g"),
            fmt(p["per_iteration_ms"], ".1f"),
            fmt_bytes(p["peak_memory_bytes"]),
            fmt_bytes(p["autograd_saved_bytes"]),
            fmt(p["cosine"], "+.3f"),
            fmt(p["difference_norm"], ".3g"),
        )
        lines.append("".join(f"{c:>{w}}" if i else f"{c:{w}}" for i, (c, w) in enumerate(zip(cells, widths))))
    env = record["environment"]
    ref = L(variants.reference_of(sweep_variants(record)) or variants.REFERENCE)
    lines.append(f"cosine: with {ref}'s meta-gradient at the initialisation; left out: the norm of the difference")
    lines.append(f"device: {env['device_name']} | torch {env['torch']} | {record['protocol']['sweep']}")
    lines.append(f"saved (exact): {record['protocol']['saved_memory']}")
    return "\n".join(lines)


# ---- a study ------------------------------------------------------------------------------------------------


def setting_words(setting: dict) -> str:
    """E.g. 'inner steps 3, inner learning rate α 0.1', for captions."""
    words = [f"{BY_NAME[k].label.split(' (')[0].lower()} {v:g}" for k, v in setting.items() if isinstance(v, float)]
    words += [f"{BY_NAME[k].label.split(' (')[0].lower()} {v}" for k, v in setting.items() if not isinstance(v, float)]
    return ", ".join(words) or "one setting"


def verdict(setting: dict, name: str) -> str:
    """Where the reference pays off against ``name``, for one setting, from the paired accuracy difference
    (``name`` - reference) and the training-time ratio."""
    ref, x = setting["reference"], name
    v = setting["versus"][name]
    d, t = v["accuracy_diff"], v["speedup"]
    first = variants.VARIANTS.get(x) and variants.VARIANTS[x].first_order and not variants.get(ref).first_order
    if not d:
        return f"{L(x)}: no complete pair of runs" + (
            f" (left out: {', '.join(setting['left_out'])})" if setting["left_out"] else ""
        )
    cost = f", at {t['mean']:.1f}× {L(x)}'s training time" if t else ""
    if setting["left_out"]:
        cost += f"; left out: {', '.join(setting['left_out'])}"
    if d["ci95"] is None:
        return f"{L(x)} − {L(ref)}: {d['mean'] * 100:+.1f} points (one seed: no interval){cost}"
    if d["mean"] + d["ci95"] < 0:
        head = f"second order pays off against {L(x)}" if first else f"{L(ref)} wins over {L(x)}"
        return f"{head}: {L(ref)} {pm({**d, 'mean': -d['mean']}, 100)} points more accurate{cost}"
    if d["mean"] - d["ci95"] > 0:
        head = "first order wins" if first else f"{L(x)} wins"
        return f"{head}: {L(x)} {pm(d, 100)} points more accurate than {L(ref)}{cost}"
    return f"{L(x)} and {L(ref)}: no clear difference ({pm(d, 100, signed=True)} points, the interval spans 0){cost}"


def verdicts(setting: dict) -> list[str]:
    return [verdict(setting, n) for n in setting["versus"]] or [f"only {L(setting['reference'])} ran"]


def study_report(study: dict) -> str:
    """The CLI summary of a study: per setting, every variant, each against the reference, the verdicts."""
    runs = study["runs"]
    states = {s: sum(r["state"] == s for r in runs) for s in RUN_STATES}
    lines = [
        f"study {study['label'] or study['id']}: {study['status']}; "
        + ", ".join(f"{n} {s}" for s, n in states.items() if n)
        + f" of {len(runs)} runs",
    ]
    for s in study["settings"]:
        lines.append("")
        paths = f"; paths {' and '.join(s['paths'])}: time and memory vary with the path" if len(s["paths"]) > 1 else ""
        lines.append(f"{study_.key_of(s['setting']) or 'all runs'} ({len(s['seeds'])} seeds{paths})")
        for name, v in s["variants"].items():
            lines.append(
                f"  {L(name):8} accuracy {pm(v['accuracy'], 100, unit=' %'):>16}   training "
                f"{pm(v['train_time_s'], unit=' s'):>14}   memory {pm(v['memory_bytes'], 1 / 2**20, unit=' MiB'):>16}"
            )
        lines += [f"  {line}" for line in verdicts(s)]
    failed = [r for r in runs if r["state"] == "failed"]
    lines += [""] + [f"failed: {r['key']} after {r['attempts']} attempts: {r['error']}" for r in failed]
    env = study["environment"]
    lines += [
        f"statistics: {study['protocol']['statistics']}",
        f"memory: {study['protocol']['memory']}",
        f"runs: {study['protocol']['parallel']}",
        f"device: {env['device_name'] if env else '–'} | executor {study['setup']['executor']}"
        + (f" at {study['setup']['address']}" if study["setup"]["address"] else ""),
    ]
    return "\n".join(lines)


def report(record: dict) -> str:
    """The text summary of any record: a comparison, a sweep or a study."""
    return {"compare": text_report, "sweep": sweep_report, "study": study_report}[record["kind"]](record)
