"""docs/results.md, generated from the run records in cached_runs/: every figure there comes from a record.

    python scripts/results_doc.py            write docs/results.md
    python scripts/results_doc.py --check    exit 1 if docs/results.md is not what the records say

bench/cpu_cached_runs.py runs it after making the records again; a test runs --check, so the page
cannot drift from the records. The published figures at the end are quotations, with their sources.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mamlviz import claims, paths, records, report, variants
from mamlviz.analysis.compare import compare_numbers, memory_key, per_iteration
from mamlviz.config import PATH_MARGIN as MARGIN

DOC = paths.ROOT / "docs" / "results.md"
L = variants.label

# Quoted, not measured here; the papers' figures are the variant table's (written once, shown by Theory too).
SEED_TUTORIAL = (
    "The seed tutorial's own run (5-way 1-shot at 105×105, 200 tasks, 5 inner steps at 0.01, its machine): "
    "MAML 74.2 %, FOMAML 71.2 %; 364.6 s / 126.5 s of training; 1.34 GB / 0.88 GB."
)


def _machine(r: dict) -> str:
    env = r["environment"]
    return f"{env['device_name']}, torch {env['torch']}, {env['date'][:10]}"


def _size(cfg: dict) -> str:
    size = cfg.get("image_size", 28)
    return f"{size}×{size}" + (" (the original images)" if size == 105 else "")


def _norm(cfg: dict) -> str:
    return "queries normalised with the support set's statistics; " if cfg.get("batch_norm") == "support" else ""


def _validation(r: dict) -> list[str]:
    """Each variant's held-out validation accuracy at the start and at the end of its training, if measured."""
    curves = {n: x.get("validation") for n, x in r["results"].items() if x.get("validation")}
    if not curves:
        return []
    return [
        f"- Validation ({r['config']['validation_tasks']} held-out tasks, as it trained): "
        + "; ".join(
            f"{L(n)} {c['accuracy'][0] * 100:.1f} % at the start, {c['accuracy'][-1] * 100:.1f} % after "
            f"{c['time_s'][-1]:.0f} s"
            for n, c in curves.items()
        )
        + "."
    ]


def _claims(folder: Path, index: list[dict]) -> list[str]:
    """The seed tutorial's claims against the cached records of its protocol."""
    found = [(e["file"], records.load(folder / e["file"])) for e in index]
    verdicts = claims.assess(claims.find(found))
    if not verdicts:
        return []
    out = ["## The seed tutorial's claims, tested", "", f"The tutorial: {claims.SOURCE}.", ""]
    out += ["| claim | the tutorial | measured here | verdict |", "|---|---|---|---|"]
    out += [f"| {c.claim} | {c.tutorial} | {c.measured} | {c.verdict} |" for c in verdicts]
    out += ["", "Records: " + "; ".join(sorted({e for c in verdicts for e in c.evidence})) + ".", ""]
    out += ["Where the tutorial's protocol still differs from these records:", ""]
    return out + [f"- {d}" for d in claims.DIFFERENCES] + [""]


def _compare(name: str, r: dict) -> list[str]:
    cfg, proto, res = r["config"], r["protocol"], r["results"]
    names = variants.in_record(r)
    key = memory_key([r])
    held = "held for backprop (exact)" if key == "autograd_saved_bytes" else "device peak"
    lines = [
        f"### {r['label'] or r['id']} (`{name}`)",
        "",
        f"{_machine(r)}. {proto['task']}, images {_size(cfg)}; {_norm(cfg)}inner lr {cfg['inner_lr']}, "
        f"{cfg['inner_steps']} inner step(s) in training, {cfg['eval_inner_steps']} at test; "
        f"meta-batch {cfg['meta_batch']}, "
        f"{cfg['train_tasks']} training tasks, outer Adam {cfg['outer_lr']}; {proto['test_tasks']} test tasks; path "
        f"{proto['path']}.",
        "",
        f"| variant | training time | per iteration (median) | {held} | peak RSS increase | test accuracy (95 % CI) |",
        "|---|---|---|---|---|---|",
    ]
    for n in names:
        x = res[n]
        lines.append(
            f"| {L(n)} | {report.fmt(x['train_time_s'], '.1f', ' s')} "
            f"| {report.fmt(per_iteration(x), '.1f', ' ms')} | {report.fmt_bytes(x.get(key))} "
            f"| {report.fmt_bytes(x['peak_memory_bytes'])} | {report.fmt_accuracy(x.get('test'))} |"
        )
    s = r["setup"]
    phases = [s.get("data_load_s"), s["path_selection"].get("probe_s"), s.get("analysis_time_s"), s.get("eval_time_s")]
    phases += [res[n]["train_time_s"] for n in names]
    total = sum(p for p in phases if p)
    lines += [
        "",
        *(f"- {w}." for w in report.ratio_words(compare_numbers(r))),
        f"- Baseline (the initialisation, adapted the same way, never meta-trained): "
        f"{report.fmt_accuracy(r.get('baseline'))}; chance {r['chance'] * 100:.0f} %.",
        f"- Recorded phases: data {report.fmt(s.get('data_load_s'), '.1f', ' s')}, path choice "
        f"{report.fmt(s['path_selection'].get('probe_s'), '.1f', ' s')}, training "
        + ", ".join(f"{L(n)} {report.fmt(res[n]['train_time_s'], '.1f', ' s')}" for n in names)
        + f", analysis {report.fmt(s.get('analysis_time_s'), '.1f', ' s')}, evaluation "
        f"{report.fmt(s.get('eval_time_s'), '.1f', ' s')}: {total:.1f} s in all"
        + (" (besides the validation points, not timed apart)." if _validation(r) else "."),
        *_validation(r),
        f"- Recommendation: {report.recommendation(r)}",
        "",
    ]
    return lines


def _sweep(name: str, r: dict) -> list[str]:
    over = r["protocol"]["over"]
    lines = [f"### {r['label'] or r['id']} (`{name}`)", "", f"{_machine(r)}. {r['protocol']['sweep']}.", ""]
    lines += ["| variant | " + over.replace("_", " ") + " | ms per iteration | held for backprop | cosine with MAML |"]
    lines += ["|---|---|---|---|---|"]
    for p in r["points"]:
        lines.append(
            f"| {L(p['algorithm'])} | {p[over]:g} | {report.fmt(p['per_iteration_ms'], '.1f')} "
            f"| {report.fmt_bytes(p['autograd_saved_bytes'])} | {report.fmt(p['cosine'], '+.3f')} |"
        )
    lines += [""] + [f"- {w}" for w in report.sweep_words(r["points"], over)] + [""]
    return lines


def _study(name: str, r: dict) -> list[str]:
    lines = [
        f"### {r['label'] or r['id']} (`{name}`)",
        "",
        f"{r['environment']['device_name'] if r['environment'] else '–'}; {len(r['runs'])} comparisons, "
        f"{r['setup']['wall_time_s'] / 60:.1f} min in all ({r['protocol']['parallel']}). Means ± 95 % t-intervals "
        "over the seeds; differences and ratios paired by seed.",
        "",
    ]
    for s in r["settings"]:
        ref = s["reference"]
        lines.append(
            f"- **{report.setting_words(s['setting'])}** ({len(s['seeds'])} seeds): "
            + "; ".join(
                f"{L(n)} {report.pm(v['accuracy'], 100, unit=' %')}, {report.pm(v['train_time_s'], unit=' s')}, "
                f"{report.pm(v['memory_bytes'], 1 / 2**20, unit=' MiB')}"
                for n, v in s["variants"].items()
            )
            + ". "
            + " ".join(f"{w[0].upper()}{w[1:]}." for w in report.verdicts(s))
            + f" ({L(ref)} is the reference.)"
        )
    return lines + [""]


def _engine_speed(path: Path) -> list[str]:
    """The engine against the field's plain per-task code (bench/engine_speed.py's record), if there is one."""
    if not path.is_file():
        return []
    bench = json.loads(path.read_text())
    env = bench["environment"]
    out = [
        "## The engine against the field's plain code",
        "",
        f"`bench/engine_speed.py` ({env['device_name']}, torch {env['torch']}, {env['date'][:10]}; median ms per",
        f"meta-iteration of {bench['reps']} repetitions, the contenders in turn on the same tasks; in brackets the",
        "ratio to the project's per-task loop path, above 1 meaning the project is faster; memory held for",
        "backpropagation, exact). *project* is the per-task loop; *threads* the same loop with the tasks split",
        "among worker threads, one intra-op thread each (it holds two tasks' graphs at once on 2 cores: twice the",
        "plain loop's memory); *tasks* runs every task at once as groups of channels. `compare` times the paths",
        "for each config before training and takes the fastest.",
        "",
    ]
    for c in bench["configs"]:
        columns = list(c["results"]["maml"])
        out += [f"**{c['what']}**", "", "| | " + " | ".join(columns) + " |"]
        out += ["|---" * (len(columns) + 1) + "|"]
        for alg, row in c["results"].items():
            cells = []
            for col in columns:
                v = row.get(col)
                if v is None:
                    cells.append("–")
                elif "maml_over_it" in v:  # an algorithm only the project implements: its ratio to MAML
                    cells.append(
                        f"{v['ms_median']:.1f} ms ({1 / v['maml_over_it']:.2f}× MAML's), "
                        f"{report.fmt_bytes(v['saved_bytes'])}"
                    )
                else:
                    cells.append(
                        f"{v['ms_median']:.1f} ms ({v['ratio_to_project']:.2f}×), {report.fmt_bytes(v['saved_bytes'])}"
                    )
            out.append(f"| {L(alg)} | " + " | ".join(cells) + " |")
        out.append("")
    if any(len(c["results"]) > 2 for c in bench["configs"]):
        out += [
            "The algorithms beyond MAML and FOMAML are timed on the project's own paths only, in turn with a MAML step",
            "of the project's per-task loop, so that the ratio to that MAML time (in brackets) is measured under the",
            "same load.",
            "",
        ]
    out += _against_the_target(bench)
    whole = bench.get("end_to_end")
    if whole:
        last = whole["runs"][-1]
        train = " and ".join(f"{L(n)} {s:.1f} s" for n, s in last["train_s"].items())
        acc = ", ".join(f"{L(n)} {a * 100:.1f} %" for n, a in last["test_accuracy"].items())
        walls = ", ".join(f"{s:.1f}" for s in whole["wall_s"])
        out += [
            f"**The default CPU comparison, end to end** (`{whole['command']}`: a fresh interpreter, data, path",
            "choice, both trainings, the memory and alignment analysis, validation, evaluation of three models, the",
            f"record written): **{whole['median_s']:.1f} s** median of {len(whole['wall_s'])} runs ({walls} s) on the",
            f"machine above. In the last: training {train}, analysis {last['analysis_s']:.1f} s, evaluation",
            f"{last['eval_s']:.1f} s, path choice {last['path_selection_s']:.1f} s ({last['path']});",
            f"test accuracy {acc}.",
            "",
        ]
    return out


def _against_the_target(bench: dict) -> list[str]:
    """The path ``compare`` would choose from these timings (``step.select_path``'s rule: the loop unless another is
    ``MARGIN`` times faster) against each peer, per config and algorithm: the issue's 1.3x target, counted."""
    rows, met = [], 0
    for c in bench["configs"]:
        for alg in ("maml", "fomaml"):
            row = c["results"].get(alg, {})
            paths = {k: v["ms_median"] for k, v in row.items() if k.startswith("project")}
            fastest = min(paths, key=paths.get)
            chosen = fastest if paths[fastest] * MARGIN <= paths["project"] else "project"
            peers = {k: v["ms_median"] / paths[chosen] for k, v in row.items() if not k.startswith("project")}
            if peers:
                rows.append((c["what"], alg, chosen, peers))
                met += all(r >= 1.3 for r in peers.values())
    if not rows:
        return []
    peers = list(dict.fromkeys(p for *_, ratios in rows for p in ratios))
    out = [
        f"Against the peers: the path `compare` would choose from these timings (the loop unless another is {MARGIN}×",
        "faster), as peer time / project time (the target is 1.3× or more against every peer):",
        "",
        "| config | | path | " + " | ".join(f"{p} / project" for p in peers) + " |",
        "|---|---|---" + "|---" * len(peers) + "|",
    ]
    for name, alg, chosen, ratios in rows:
        cells = [f"{ratios[p]:.2f}×" if p in ratios else "–" for p in peers]
        out.append(
            f"| {name} | {L(alg)} | {chosen.removeprefix('project-') if chosen != 'project' else 'loop'} | "
            + " | ".join(cells)
            + " |"
        )
    out += ["", f"At least 1.3× against every peer on {met} of {len(rows)} rows.", ""]
    return out


def _further_off(configs: list, attempt: str) -> str:
    """How many times further from float64 ``attempt``'s float32 gradient is than the engine's choice's, over the
    configs and orders (a clause for the attempts' text, from the record)."""
    ratios = [
        r["error_to_float64"][attempt] / r["error_to_float64"][r["chosen"]]
        for c in configs
        for r in c["results"].values()
        if attempt in r.get("error_to_float64", {}) and r["error_to_float64"].get(r["chosen"])
    ]
    if not ratios:
        return "."
    return (
        f": the native batch norm in the {attempt} layout, faster for first order, is {min(ratios):,.0f} to "
        f"{max(ratios):,.0f} times further off than the engine's default layout, which is why the engine keeps it."
    )


def _engine_attempts(path: Path) -> list[str]:
    """What each way of running the per-task loop gave (bench/engine_attempts.py's record), if there is one: one
    row per attempt, its time over the engine's choice per config and its float32 gradient's distance from float64."""
    if not path.is_file():
        return []
    bench = json.loads(path.read_text())
    env = bench["environment"]
    configs = bench["configs"]
    attempts = list(dict.fromkeys(a for c in configs for r in c["results"].values() for a in r["ms_median"]))
    names = ", ".join(c["name"] for c in configs)
    out = [
        "## What each attempt at a faster loop gave",
        "",
        f"`bench/engine_attempts.py` ({env['device_name']}, torch {env['torch']}, {env['date'][:10]}; median of",
        f"{bench['reps']} repetitions in turn on the same tasks): the project's per-task meta-gradient with one thing",
        "changed, as time over the engine's choice (**bold**, in ms; above 1 the attempt is slower), and how far its",
        "float32 meta-gradient is from the float64 one (relative norm), per config in the order named. On real",
        "characters the max-pools meet near-ties on the flat backgrounds, so a less precise kernel routes the",
        "gradient through other pixels and shows there"
        + _further_off(configs, "channels-last")
        + " Through 5 inner steps (the 20-way config) any rounding is amplified, the engine's own float32 gradient",
        "included, so there even an exact rewrite (no-conv-bias) lands far from it. *compiled*: first order only",
        "(inductor does not take a second derivative), its compilation timed in the same process, where shapes",
        "compiled for an earlier config are reused. *two-threads* (the tasks split over two threads, one intra-op",
        "thread each) is the engine's `threads` path, chosen per config by timing, as above. Configs: "
        + "; ".join(f"*{c['name']}*: {c['what']}" for c in configs)
        + ".",
        "",
        f"| attempt | time, second order ({names}) | first order | float32 error, second order | first order |",
        "|---|---|---|---|---|",
    ]
    for a in attempts:
        cells, errors = [], []
        for order in ("maml", "fomaml"):
            times = []
            for c in configs:
                r = c["results"][order]
                if a not in r["ms_median"]:
                    times.append("fails" if a in r.get("errors", {}) else "–")
                    continue
                text = f"**{r['ms_median'][a]:.0f}**" if a == r["chosen"] else f"{r['ratio_to_chosen'][a]:.2f}×"
                if a == "compiled" and r.get("compile_s") is not None and r["compile_s"] >= 1:
                    text += f" (+{r['compile_s']:.0f} s)"
                times.append(text)
            cells.append(" · ".join(times))
            seen = [c["results"][order].get("error_to_float64", {}).get(a) for c in configs]
            errors.append(" · ".join("–" if e is None else f"{e:.0e}" for e in seen))
        out.append(f"| {a} | {cells[0]} | {cells[1]} | {errors[0]} | {errors[1]} |")
    out.append("")
    return out


def render(folder: Path = paths.CACHED_RUNS) -> str:
    """The page, from the records that cached_runs/index.json lists, in its order."""
    index = json.loads((folder / "index.json").read_text())
    out = [
        "# Measured results",
        "",
        "Generated by `scripts/results_doc.py` from the run records in `cached_runs/` (made by",
        "`bench/cpu_cached_runs.py`, which regenerates this page); a test checks that this page is what the",
        "records say. Every figure names its machine. Protocol for all: Omniglot 28×28 (the shipped array)",
        "unless a run says 105×105 (the original images), 1,200/423 character split (seed 0), four rotations as",
        "extra classes, transductive batch norm unless a run says otherwise, Adam",
        "outer loop; accuracy on held-out test tasks with a 95 % Student-t interval. On CPU, memory is the exact",
        "figure held for backpropagation in one meta-iteration (saved-tensor hooks), beside the process's",
        "sampled peak RSS increase.",
        "",
    ]
    for entry in index:
        r = records.load(folder / entry["file"])
        r["label"] = entry.get("label") or r["label"]  # the index names it as it is shown now
        name = entry["file"]
        out += {"compare": _compare, "sweep": _sweep, "study": _study}[r["kind"]](name, r)
    out += _claims(folder, index)
    out += [
        "## Beside the published figures",
        "",
        "Quoted, not measured here. The protocols differ from the cached runs above: the papers train for tens",
        "of thousands of iterations on a GPU at 28×28; the seed tutorial's own run is set beside the records of",
        "its protocol (105×105) in the claims section above, with what still differs.",
        "",
    ]
    for v in variants.VARIANTS.values():
        out += [f"- **{v.label}** ({v.paper}): " + "; ".join(v.published) + "." if v.published else f"- **{v.label}**"]
    out += [f"- {SEED_TUTORIAL}"]
    out += ["", "GPU: no run recorded yet (no GPU has been lent to a session); `bench/reference_runs.py` is ready.", ""]
    out += _engine_speed(paths.ROOT / "bench" / "results" / "engine_speed_cpu.json")
    out += _engine_attempts(paths.ROOT / "bench" / "results" / "engine_attempts_cpu.json")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/results.md differs from the records")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        if not DOC.is_file() or DOC.read_text() != text:
            print(f"{DOC} is not what the records say: run python scripts/results_doc.py", file=sys.stderr)
            return 1
        return 0
    records.write_atomic(DOC, text.encode())
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
