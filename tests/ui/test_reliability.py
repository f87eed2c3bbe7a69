"""Nothing a bad file, a signal or a second click does may lose a run or break a page (issue 11)."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY, tiny_cli
from streamlit.testing.v1 import AppTest

from mamlviz import RunConfig, charts, compare, records, report
from mamlviz.charts.compare import curves
from mamlviz.engine import meta
from mamlviz.records import store
from mamlviz.run.jobs import JobRegistry

PAGES = [
    "views/compare.py",
    "views/theory.py",
    "views/scaling.py",
    "views/adapt.py",
    "views/study.py",
    "views/history.py",
]


def _app(page=None):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    return at.switch_page(page).run() if page else at


def _cli(*args, env=None, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "mamlviz", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _bad_files(folder: Path, tiny_record) -> dict[str, str]:
    """File name -> words its skip reason must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    good = json.loads(records.dumps(tiny_record))
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    no_diverged = json.loads(json.dumps(good))
    del no_diverged["results"]["maml"]["diverged_at"]
    (folder / "no_diverged_at.json").write_text(json.dumps(no_diverged))
    (folder / "empty_protocol.json").write_text(json.dumps({**good, "protocol": {}}))
    huge = json.loads(json.dumps(good))
    huge["results"]["maml"]["train_time_s"] = 10**400
    (folder / "huge_number.json").write_text(json.dumps(huge))
    (folder / "zero.json").symlink_to("/dev/zero")
    os.mkfifo(folder / "fifo.json")
    (folder / "folder.json").mkdir()
    return {
        "deep.json": "nested too deeply",
        "no_diverged_at.json": "diverged_at",
        "empty_protocol.json": "protocol",
        "huge_number.json": "number",
        "zero.json": "not a regular file",
        "fifo.json": "not a regular file",
        "folder.json": "not a regular file",
    }


def test_scan_skips_every_bad_file_with_its_reason_and_never_hangs(tmp_path, tiny_record):
    expected = _bad_files(tmp_path, tiny_record)
    records.save(tiny_record, tmp_path / "good.json")
    out = {}
    worker = threading.Thread(target=lambda: out.update(result=records.scan(tmp_path)), daemon=True)
    worker.start()
    worker.join(60)
    assert "result" in out, "scan hung (a FIFO or a device read)"
    found, skipped = out["result"]
    assert [p.name for p, _ in found] == ["good.json"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert set(reasons) == set(expected)
    for name, words in expected.items():
        assert words in reasons[name], (name, reasons[name])


@pytest.mark.parametrize("page", PAGES)
def test_bad_files_in_the_runs_folder_break_no_page(fresh_server, tiny_record, page):
    expected = _bad_files(fresh_server, tiny_record)
    records.save(tiny_record, fresh_server / "good.json")
    at = _app(page)
    assert not at.exception, at.exception
    if page == "views/history.py":
        text = " ".join(m.value for m in at.markdown)
        assert all(name in text for name in expected)
        assert len(at.dataframe) == 1


def test_cli_show_names_the_bad_field(tmp_path, tiny_record):
    _bad_files(tmp_path / "bad", tiny_record)
    r = _cli("show", str(tmp_path / "bad" / "empty_protocol.json"))
    assert r.returncode == 2 and "protocol" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("kind", ["a folder", "under /proc", "under a file"])
def test_cli_refuses_an_unwritable_out_before_training(tmp_path, kind):
    (tmp_path / "file").write_text("x")
    out = {
        "a folder": tmp_path,
        "under /proc": Path("/proc/mamlviz-test/run.json"),
        "under a file": tmp_path / "file" / "run.json",
    }[kind]
    t0 = time.time()
    r = _cli("compare", "--device", "cpu", "--tasks", "100000", "--out", str(out))
    assert r.returncode == 2 and "--out" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert time.time() - t0 < 30  # refused up front, not after 100,000 tasks of training


def test_dashboard_with_an_unwritable_runs_folder_says_so_next_to_start(tmp_path, monkeypatch, fresh_server):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("MAMLVIZ_RUNS_DIR", str(blocker))
    at = _app()
    assert not at.exception
    assert [b for b in at.sidebar.button if b.label == "Start"][0].disabled
    assert any("Run records cannot be saved" in e.value and "MAMLVIZ_RUNS_DIR" in e.value for e in at.sidebar.error)


def test_a_record_that_cannot_be_saved_stays_in_the_job(tmp_path, tiny_record, monkeypatch):
    runs = tmp_path / "runs"

    def run(config, on_progress, stop, label, **options):
        runs.rmdir()
        runs.write_text("the folder became a file during the run")
        return tiny_record

    runs.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    reg = JobRegistry(runs, run_compare=run)
    try:
        job = reg.submit("compare", TINY)
        end = time.time() + 30
        while job.active and time.time() < end:
            time.sleep(0.02)
        snap = job.snapshot()
        assert snap["state"] == "done" and snap["record"]["id"] == tiny_record["id"]
        assert "could not write" in snap["save_error"] and "saved in" in snap["save_error"]
        assert records.load(snap["record_path"])["id"] == tiny_record["id"]  # in the temporary folder
        assert str(tmp_path / "tmp") in snap["record_path"]
    finally:
        reg.shutdown()


def test_the_page_keeps_results_and_download_when_saving_fails(fresh_server, monkeypatch):
    def refuse(path, data):  # every disk is full: the runs folder's and the temporary folder's
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "write_atomic", refuse)
    at = _app()
    for key, value in {
        "train_tasks": 8,
        "meta_batch": 2,
        "k_query": 2,
        "eval_tasks": 10,
        "eval_inner_steps": 1,
    }.items():
        at.number_input(key=key).set_value(value)
    at.selectbox(key="device").set_value("cpu")
    at.run()
    [b for b in at.sidebar.button if b.label == "Start"][0].click().run()
    end = time.time() + 180
    while not any(s.value == "Results" for s in at.subheader) and time.time() < end:
        time.sleep(0.5)
        at.run()
    assert any("not saved" in w.value and "No space left on device" in w.value for w in at.warning)
    assert any("Recommendation" in i.value for i in at.info)
    assert [b for b in at.get("download_button") if "run record" in b.proto.label]


def test_long_curves_are_capped_when_drawn_and_scans_are_cached(tmp_path, tiny_record, monkeypatch):
    big = json.loads(records.dumps(tiny_record))
    n = 200_000
    big["results"]["maml"]["curve"] = {
        "iteration": list(range(1, n + 1)),
        "time_s": [i * 0.01 for i in range(n)],
        "loss": [1.0] * n,
        "accuracy": [0.5] * n,
    }
    records.save(big, tmp_path / "big.json")
    fig = curves({k: r["curve"] for k, r in big["results"].items()})
    assert max(len(t.x) for t in fig.data) <= charts.DRAWN_POINTS
    loads = []
    real = store.load
    monkeypatch.setattr(store, "load", lambda p: loads.append(p) or real(p))
    records.scan(tmp_path)
    records.scan(tmp_path)
    assert len(loads) == 1  # an unchanged file is read and validated once
    os.utime(tmp_path / "big.json", ns=(time.time_ns(), time.time_ns() + 10**9))
    records.scan(tmp_path)
    assert len(loads) == 2  # a changed file is read again


def test_cli_sigterm_stops_after_the_iteration_and_writes_the_record(tmp_path):
    out = tmp_path / "run.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mamlviz", "compare", *tiny_cli(train_tasks=100_000, eval_tasks=10), "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    seen = ""
    while "MAML" not in seen and time.time() < deadline:
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    rec = records.load(out)
    assert rec["status"] == "stopped" and rec["results"]["maml"]["iterations_done"] < 50_000


def test_missing_data_file_is_one_clear_line():
    code = (
        "import sys, pathlib; import mamlviz.omniglot as o; o.SHIPPED = pathlib.Path('/nonexistent/o.npz'); "
        "from mamlviz.cli import main; sys.exit(main(['compare', '--device', 'cpu', '--tasks', '64', "
        "'--out', sys.argv[1]]))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code, "/tmp/mamlviz-missing-data.json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "Omniglot array missing" in r.stderr


def test_sweep_steps_that_are_not_numbers_name_the_field():
    r = _cli("sweep", "--steps", "a,b")
    assert r.returncode == 2 and "steps:" in r.stderr


def test_a_loss_that_grows_but_stays_finite_is_flagged_unstable(monkeypatch):
    real = meta.meta_gradient
    calls = {"n": 0}

    def growing(*args, **kw):
        grads, loss, acc = real(*args, **kw)
        if kw.get("algorithm") == "maml":
            calls["n"] += 1
            loss = loss * (1.5 ** calls["n"])  # 1.5^30: orders of magnitude, never infinite
        return grads, loss, acc

    monkeypatch.setattr(meta, "meta_gradient", growing)
    r = compare(RunConfig(**{**TINY, "path": "loop"}))
    maml, fomaml = r["results"]["maml"], r["results"]["fomaml"]
    assert maml["status"] == "complete" and maml["unstable"] and maml["loss_growth"] > 100
    assert fomaml["unstable"] is False and fomaml["loss_growth"] < 10
    assert any("MAML's training was unstable" in w for w in report.warnings(r))
    assert "unstable" in report.recommendation(r) and "(unstable)" in report.text_report(r)


def test_hosted_copy_shows_file_names_not_server_paths(fresh_server, tiny_record, monkeypatch):
    monkeypatch.setenv("MAMLVIZ_HOSTED", "1")
    fresh_server.mkdir(parents=True)
    (fresh_server / "broken.json").write_text("{")
    at = _app("views/history.py")
    text = " ".join(m.value for m in at.markdown)
    assert "broken.json" in text and str(fresh_server) not in text
