"""Command line: `python -m mamlviz compare|sweep|study|show|data build`. Bad arguments exit with code 2."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import threading
from pathlib import Path

from . import presets, variants
from .config import FIELDS, RunConfig
from .paths import runs_dir


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # argparse already exits 2; keep the message short and named
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _config_args(p: argparse.ArgumentParser):
    """One flag per row of the config table; values are checked by RunConfig, which names the field. A flag left
    out takes the value of what the dashboard's Start runs untouched on the run's device (``_config``)."""
    cpu, gpu = presets.default_for(False), presets.default_for(True)
    for f in FIELDS:
        on_cpu, on_gpu = ("auto", "auto") if f.name == "device" else (getattr(cpu, f.name), getattr(gpu, f.name))
        default = f"default {on_cpu}" if on_cpu == on_gpu else f"default {on_cpu} on CPU, {on_gpu} on a GPU"
        none = " 0 = none." if f.optional else ""
        help_ = f"{f.help or f.label + '.'} {f.range_text().capitalize()}; {default}.{none}"
        p.add_argument(f.cli_flag, dest=f.name, type=f.type, default=None, help=help_)
    p.add_argument("--label", default=None, help="a name for the run record")


def build_parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="python -m mamlviz", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)
    c = sub.add_parser(
        "compare", help="train the chosen algorithms (MAML and FOMAML by default) on the same tasks and compare them"
    )
    _config_args(c)
    c.add_argument(
        "--out",
        type=Path,
        default=None,
        help="run record path (default <id>.json in $MAMLVIZ_RUNS_DIR, else the repository's runs/)",
    )
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.add_argument("--overwrite", action="store_true", help="replace the record at --out if there is one")
    s = sub.add_parser("sweep", help="time and memory per iteration against inner steps")
    _config_args(s)
    s.add_argument("--steps", default="1,2,3,5,7,10", help="comma-separated inner-step counts")
    s.add_argument(
        "--inner-lrs", default=None, help="comma-separated inner learning rates: sweep these instead of the inner steps"
    )
    s.add_argument("--iterations", type=int, default=20, help="iterations per point")
    s.add_argument("--out", type=Path, default=None)
    s.add_argument("--overwrite", action="store_true", help="replace the record at --out if there is one")
    st = sub.add_parser(
        "study",
        help="a grid of comparisons over settings and seeds, with means and 95%% intervals across seeds",
        description="Every compare flag may be a comma list; the study runs every combination for every seed.",
    )
    for f in FIELDS:
        flags = ["--seeds", f.cli_flag] if f.name == "seed" else [f.cli_flag]
        help_ = f"{f.label}: one value or a comma list, each {f.range_text()}; default {f.default}"
        st.add_argument(*flags, dest=f.name, default=None, help=help_)
    st.add_argument("--label", default=None, help="a name for the study record")
    st.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the run records and the study record (default $MAMLVIZ_RUNS_DIR, else the repository's runs/)",
    )
    st.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS|local",
        help="run on a Ray cluster (host:port), or on a Ray runtime started here ('local'); default: "
        "$MAMLVIZ_RAY_ADDRESS or $RAY_ADDRESS if set, else one run at a time on this machine without Ray",
    )
    st.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="STUDY.json",
        help="finish a study that was stopped or interrupted: its finished runs are kept, the others run "
        "(its grid and seeds are the record's; give no other settings)",
    )
    st.add_argument("--cpus-per-run", type=int, default=1, help="Ray without GPUs: CPUs each run asks for (default 1)")
    st.add_argument("--quiet", action="store_true", help="no progress bars, one line per event")
    show = sub.add_parser("show", help="print the summary of a run or study record")
    show.add_argument("record", type=Path)
    data = sub.add_parser("data", help="the Omniglot array")
    dsub = data.add_subparsers(dest="data_command", required=True, parser_class=_ArgumentParser)
    b = dsub.add_parser(
        "build", help="build the Omniglot array from the original images: the shipped 28x28 one, or the 105x105 cache"
    )
    b.add_argument("--size", type=int, default=28, help="28 (the shipped file, default) or 105 (the cache)")
    b.add_argument(
        "--from",
        dest="source",
        type=Path,
        default=None,
        help="folder with images_background/evaluation (.zip or extracted); default: download",
    )
    b.add_argument("--out", type=Path, default=None, help="output npz, at 28 only (default: the shipped file)")
    return parser


def _config(ns) -> RunConfig:
    """The flags given, over the dashboard's default for the device the run will take (``presets.default_for``):
    the paper's setting on a GPU, the quick CPU config (about 26 s end to end on 2 cores, docs/results.md) on a CPU."""
    given = {f.name: getattr(ns, f.name) for f in FIELDS if getattr(ns, f.name) is not None}
    given.update({f.name: None for f in FIELDS if f.optional and given.get(f.name) == 0})  # 0 = none
    device = str(given.get("device", "auto"))
    if device == "auto":
        import torch

        cuda = torch.cuda.is_available()
    else:
        cuda = device.startswith("cuda")
    base = presets.default_for(cuda).to_dict()
    if device == "auto":
        base["device"] = "auto"
    return RunConfig(**{**base, **given})


class _Bars:
    """One tqdm bar per algorithm, fed by compare()'s progress snapshots."""

    def __init__(self, quiet: bool):
        self.quiet, self.bars = quiet, {}

    def __call__(self, snap: dict):
        if self.quiet or snap.get("phase") != "train":
            return
        from tqdm import tqdm

        name = snap["algorithm"]
        if name not in self.bars:
            for other in self.bars.values():
                other.close()
            desc = f"{variants.label(name):7}"
            self.bars[name] = tqdm(total=snap["total"], desc=desc, unit="it", file=sys.stderr)
        bar = self.bars[name]
        bar.update(snap["iteration"] - bar.n)
        bar.set_postfix(loss=f"{snap['loss']:.3f}", acc=f"{snap['accuracy']:.2f}")

    def close(self):
        for bar in self.bars.values():
            bar.close()


def _stop_on_signals() -> threading.Event:
    """Ctrl-C or SIGTERM: stop after the current iteration and still write the record; twice: abort."""
    stop = threading.Event()

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        print("\nstopping after this iteration (Ctrl-C again to abort)", file=sys.stderr)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _sweep_values(ns, cfg: RunConfig) -> tuple[str, list]:
    """What the sweep varies and its values, each checked by the config table's rules."""
    if ns.inner_lrs is not None:
        try:
            values = [float(v) for v in ns.inner_lrs.split(",") if v.strip()]
        except ValueError:
            values = []
        if not values:
            raise ValueError(f"inner-lrs: give inner learning rates such as 0.01,0.1,0.4, got {ns.inner_lrs!r}")
        for v in values:
            cfg.replace(inner_lr=v)  # names inner_lr and its range when out of it
        return "inner_lr", values
    try:
        steps = [int(s) for s in ns.steps.split(",") if s.strip()]
    except ValueError:
        steps = []
    if not steps or any(not 1 <= s <= 20 for s in steps):
        raise ValueError(f"steps: give inner-step counts from 1 to 20, got {ns.steps!r}")
    return "inner_steps", steps


def main(argv=None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        if ns.command == "show":
            from . import claims, records, report

            record = records.load(ns.record)
            print(report.report(record))
            if claims.on_protocol(record.get("config", {})):  # the tutorial's experiment: its claims, tested
                found, _ = records.scan(ns.record.parent)  # with the records beside it (the other roles)
                verdicts = claims.assess(
                    claims.find([(p.name, r) for p, r in found if p != ns.record] + [(ns.record.name, record)])
                )
                if verdicts:
                    print("\n" + claims.text(verdicts))
            return 0
        if ns.command == "data":
            return _data_build(ns)
        if ns.command == "study":
            return _study(ns)
        cfg = _config(ns)
        if ns.command == "sweep":
            over, values = _sweep_values(ns, cfg)
            if not 1 <= ns.iterations <= 10_000:
                raise ValueError(f"iterations: must be from 1 to 10000, got {ns.iterations}")
        from . import records

        out = ns.out or runs_dir() / "run.json"  # the record's own name is known only after the run
        problem = records.unwritable_reason(out)
        if problem:
            raise ValueError(f"{'--out' if ns.out else 'runs folder'}: {problem}")
        if ns.out and ns.out.exists() and not ns.overwrite:  # another run's record: never replaced silently
            raise ValueError(f"--out: {ns.out} exists; give another name, or --overwrite to replace it")
    except ValueError as e:  # RunConfig and record errors name the field and the valid range
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        from . import engine, report
    except ModuleNotFoundError as e:  # a hosted install: the dashboard only
        print(
            f"error: training needs PyTorch ({e.name} is not installed): pip install -r requirements.txt",
            file=sys.stderr,
        )
        return 2

    stop = _stop_on_signals()
    try:
        if ns.command == "sweep":
            record = engine.sweep(
                cfg, over, values, iterations=ns.iterations, stop=stop, label=ns.label, launched_from="cli"
            )
            print(report.sweep_report(record))
        else:
            import torch

            from . import estimate, paths
            from .engine import measure

            found = [(p.name, r) for p, r in records.scan(paths.CACHED_RUNS, runs_dir())[0]]
            cuda = torch.cuda.is_available()
            here = torch.cuda.get_device_name(0) if cuda and cfg.device != "cpu" else measure.cpu_name()
            print(estimate.words(cfg, estimate.estimate(cfg, found, cuda), here=here), flush=True)
            bars = _Bars(ns.quiet)
            networks: dict[str, bytes] = {}  # saved beside the record, with it, as one unit
            try:
                record = engine.compare(
                    cfg, on_progress=bars, stop=stop, label=ns.label, launched_from="cli", networks=networks
                )
            finally:
                bars.close()
            print(report.text_report(record))
    except (ValueError, FileNotFoundError) as e:  # e.g. a device that is not there, the data file missing
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = ns.out or runs_dir() / f"{record['id']}.json"
    files = networks if ns.command == "compare" else {}
    # checked before training, so a failure here is a disk that filled up or a folder that went away since:
    # the record and its networks go to the temporary folder together, or, failing that, the record is printed
    saved, why = records.save_run_somewhere(record, files, out)
    if why:
        print(f"error: {why}", file=sys.stderr)
        if saved is None:
            print("the run record follows on standard output, so that its results are not lost", file=sys.stderr)
            print(records.dumps(record))
            return 1
        print(f"run record: {saved}")
        return 1
    print(f"run record: {out}")
    return 0


def _data_build(ns) -> int:

    from . import omniglot

    if ns.source is not None and not ns.source.is_dir():
        print(f"error: --from: {ns.source} is not a folder", file=sys.stderr)
        return 2
    if ns.size not in omniglot.SIZES:
        print(f"error: --size: must be one of {', '.join(map(str, omniglot.SIZES))}, got {ns.size}", file=sys.stderr)
        return 2
    if ns.size != omniglot.SIZE:  # the 105x105 cache, built and checked where every run looks for it
        try:
            path = omniglot.build_cache(ns.size, ns.source)
        except (FileNotFoundError, ValueError) as e:
            print(f"error: --from: {e}", file=sys.stderr)
            return 2
        print(f"wrote {path} (1623 characters x 20 drawings at {ns.size}x{ns.size}), sha256 beside it")
        return 0
    try:
        if ns.source is None:
            with tempfile.TemporaryDirectory() as tmp:
                data = omniglot.build(omniglot.download(tmp))
        else:
            data = omniglot.build(ns.source)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: --from: {e}", file=sys.stderr)
        return 2
    out = ns.out or omniglot.SHIPPED
    digest = omniglot.save(data, out)
    print(f"wrote {out} ({data.images.shape[0]} characters x {data.images.shape[1]} drawings), sha256 {digest}")
    if out == omniglot.SHIPPED and digest != omniglot.SHIPPED_SHA256:
        print("note: differs from the sha256 recorded in mamlviz/omniglot.py; update SHIPPED_SHA256", file=sys.stderr)
    return 0


def _study_plan(ns):
    from .analysis import study

    notes: list[str] = []
    values = {
        f.name: study.parse_values(f, getattr(ns, f.name), notes) for f in FIELDS if getattr(ns, f.name) is not None
    }
    for note in notes:  # what was merged, said
        print(f"note: {note}", file=sys.stderr)
    return study.plan(values)


def _resumed(ns):
    """The study record to resume, its plan (its grid and seeds, its base config) and its folder."""
    from . import records
    from .analysis import study

    given = [f.cli_flag for f in FIELDS if getattr(ns, f.name) is not None]
    if given:
        raise ValueError(f"resume: the settings are the study record's; leave out {', '.join(given)}")
    try:
        old = records.load(ns.resume)
    except records.RecordError as e:
        raise ValueError(f"resume: {e}") from None
    if old["kind"] != "study":
        raise ValueError(f"resume: {ns.resume} is a {old['kind']} record, not a study")
    values = {**old["protocol"]["grid"], "seed": old["protocol"]["seeds"]}
    return old, study.plan(values, base=records_config(old)), ns.resume.parent


def records_config(record: dict):
    return RunConfig.from_dict(record["config"])


class _StudyBars:
    """A bar for the whole study and one per running comparison (its current variant's iterations)."""

    def __init__(self, total: int, quiet: bool):
        from tqdm import tqdm

        self.tqdm, self.quiet, self.bars, self.slots = tqdm, quiet, {}, {}
        self.saved: str | None = None  # where the study record is, as the runner last said
        self.save_failed: str | None = None
        self.overall = None if quiet else tqdm(total=total, desc="study", unit="run", file=sys.stderr, position=0)

    def __call__(self, event: str, key: str, payload):
        if event == "progress":
            self._progress(key, payload)
            return
        if event == "saved":
            self.saved = payload
        if event == "save-failed":
            self.save_failed = payload
            print(f"error: {payload}", file=sys.stderr)
            return
        if event in ("done", "failed", "cancelled", "retry"):
            bar = self.bars.pop(key, None)
            if bar is not None:
                self.slots.pop(key, None)
                bar.close()
            if self.overall is not None and event != "retry":
                self.overall.update(1)
        line = self._line(event, key, payload)
        if line and (self.quiet or event in ("retry", "failed")):
            print(line, file=sys.stderr)
        elif line and self.overall is not None and event != "saved":
            self.overall.write(line, file=sys.stderr)

    @staticmethod
    def _line(event: str, key: str, payload) -> str | None:
        if event == "placed":
            return f"{key}: running on {payload['where']}"
        if event == "done":
            return f"{key}: {payload['status']}"
        if event == "retry":
            return f"{key}: failed ({payload}); trying once more"
        if event == "failed":
            return f"{key}: failed ({payload})"
        if event == "cancelled":
            return f"{key}: cancelled"
        if event == "saved":
            return f"study record: {payload}"
        return None

    def _progress(self, key: str, snap: dict):
        if self.quiet or snap.get("phase") != "train":
            return
        if key not in self.bars:
            slot = min(set(range(1, len(self.slots) + 2)) - set(self.slots.values()))
            self.slots[key] = slot
            self.bars[key] = self.tqdm(desc=key, unit="it", file=sys.stderr, position=slot, leave=False)
        bar = self.bars[key]
        bar.total = snap["total"]
        bar.n = snap["iteration"]
        bar.set_postfix_str(f"{variants.label(snap['algorithm'])} loss {snap['loss']:.3f}", refresh=True)

    def close(self):
        for bar in [*self.bars.values(), self.overall]:
            if bar is not None:
                bar.close()


def _study(ns) -> int:
    from . import records, report
    from .run.cluster import RAY_HINT, RayExecutor, ray_address, ray_available
    from .run.executors import LocalExecutor
    from .run.study_runner import run_study

    resume = None
    try:
        if ns.resume is not None:
            resume, plan, ns.out = _resumed(ns)
        else:
            plan = _study_plan(ns)
        out = ns.out or runs_dir()
        problem = records.unwritable_reason(out / "study.json")
        if problem:
            raise ValueError(f"{'--out' if ns.out else 'runs folder'}: {problem}")
        if not 1 <= ns.cpus_per_run <= 256:
            raise ValueError(f"cpus-per-run: must be from 1 to 256, got {ns.cpus_per_run}")
        address = ns.ray or ray_address()
        if address and not ray_available():
            raise ValueError(f"ray: {RAY_HINT}")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    where = "this machine" if not address else "a local Ray runtime" if address == "local" else f"Ray at {address}"
    print(f"study: {len(plan.runs)} comparisons on {where}; records in {out}", file=sys.stderr)
    try:
        executor = RayExecutor(address, ns.cpus_per_run) if address else LocalExecutor()
    except (RuntimeError, ConnectionError, ValueError) as e:
        print(f"error: ray: could not connect to {address} ({e})", file=sys.stderr)
        return 2
    stop = _stop_on_signals()
    bars = _StudyBars(len(plan.runs), ns.quiet)
    try:
        record = run_study(
            plan, out, executor, label=ns.label or "", launched_from="cli", stop=stop, on_event=bars, resume=resume
        )
    finally:
        bars.close()
        executor.shutdown()
    print(report.study_report(record))
    print(f"study record: {bars.saved or out / (record['id'] + '.json')}")
    failed = sum(r["state"] == "failed" for r in record["runs"])
    if failed:
        print(f"error: {failed} of {len(record['runs'])} comparisons failed (see above)", file=sys.stderr)
    return 1 if failed or bars.save_failed else 0
