"""Faults of the newer surfaces (issue 20): a full disk, an unreachable Ray cluster, a typo in a setting,
an existing --out, a hosted install asked to train. Nothing is lost in any of them."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, TINY, tiny_cli

from mamlviz import RunConfig, records
from mamlviz.records import store
from mamlviz.run.jobs import JobRegistry


@pytest.fixture
def small_disk(tmp_path, request):
    """A real small filesystem (tmpfs, 300 KiB unless the test says): a tiny run's networks (1.35 MB) do not
    fit on it."""
    disk = tmp_path / "small"
    disk.mkdir()
    size = getattr(request, "param", "300k")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def _cli(*args, tmp: Path, timeout=300):
    """The CLI with its temporary folder (the fallback for what cannot be saved) in ``tmp``."""
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.run(
        [sys.executable, "-m", "mamlviz", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_full_disk_sends_record_and_networks_together_to_the_temporary_folder(small_disk, tmp_path):
    out = small_disk / "run.json"
    r = _cli("compare", *tiny_cli(train_tasks=4, eval_tasks=10), "--quiet", "--out", str(out), tmp=tmp_path)
    assert r.returncode == 1, r.stderr
    assert "No space left on device" in r.stderr and "saved in" in r.stderr and "Traceback" not in r.stderr
    assert not any(small_disk.iterdir())  # neither half of the unit stays behind on the full disk
    saved = records.load(tmp_path / records.store.FALLBACK / "run.json")
    networks = tmp_path / records.store.FALLBACK / saved["params_file"]["file"]
    assert _sha(networks) == saved["params_file"]["sha256"] and saved["status"] == "complete"
    assert f"run record: {tmp_path / records.store.FALLBACK / 'run.json'}" in r.stdout


@pytest.mark.parametrize("small_disk", ["48k"], indirect=True)  # room for the study record and a run or two
def test_a_study_on_a_disk_that_fills_up_goes_on_in_the_temporary_folder_and_loses_no_run(small_disk, tmp_path):
    args = [*tiny_cli(train_tasks=4, eval_tasks=10, alignment_points=0), "--seeds", "0,1,2,3,4,5", "--quiet"]
    r = _cli("study", *args, "--out", str(small_disk), tmp=tmp_path, timeout=600)
    assert r.returncode == 1 and "saved in" in r.stderr and "Traceback" not in r.stderr, r.stderr
    where = Path(next(line for line in r.stdout.splitlines() if line.startswith("study record:")).split(": ", 1)[1])
    assert str(tmp_path) in str(where)
    study = records.load(where)
    assert study["status"] == "complete" and [run["state"] for run in study["runs"]] == ["done"] * 6
    for run in study["runs"]:  # every run's record beside the study record, whichever folder it first went to
        assert records.load(where.parent / run["record_file"])["config"]["seed"] == run["seed"]


def test_the_dashboard_keeps_record_and_networks_together_when_the_runs_folder_fails(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    real = store.write_atomic

    def full(path, data):  # the runs folder's disk is full; the temporary folder is not
        if Path(path).parent == runs:
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(store, "write_atomic", full)
    reg = JobRegistry(runs)
    try:
        job = reg.submit("compare", RunConfig(**{**TINY, "train_tasks": 4, "eval_tasks": 10}))
        end = time.time() + 120
        while job.active and time.time() < end:
            time.sleep(0.1)
        snap = job.snapshot()
    finally:
        reg.shutdown()
    assert snap["state"] == "done" and snap["record"] is not None
    assert "No space left on device" in snap["save_error"] and "saved in" in snap["save_error"]
    saved = Path(snap["record_path"])
    assert saved.parent == tmp_path / "tmp" / records.store.FALLBACK and not any(runs.iterdir())
    record = records.load(saved)
    assert _sha(saved.parent / record["params_file"]["file"]) == record["params_file"]["sha256"]


def test_an_existing_out_is_never_replaced_silently(tmp_path):
    out = tmp_path / "run.json"
    out.write_text("{}")
    r = _cli("compare", *tiny_cli(train_tasks=4, eval_tasks=10), "--out", str(out), tmp=tmp_path)
    assert r.returncode == 2 and "--out" in r.stderr and "--overwrite" in r.stderr and out.read_text() == "{}"


def test_the_training_cli_in_a_hosted_install_says_which_install_it_needs(tmp_path):
    code = (
        "import sys; sys.modules['torch'] = None; from mamlviz.cli import main; "
        f"sys.exit(main(['compare', '--device', 'cpu', '--out', {str(tmp_path / 'r.json')!r}]))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "pip install -r requirements.txt" in r.stderr and "Traceback" not in r.stderr


def test_study_values_are_plain_numbers_and_a_repeated_one_is_said(tmp_path):
    for bad in ("1_000", "٣", "0x3"):
        r = _cli("study", "--inner-steps", f"1,{bad}", "--out", str(tmp_path), tmp=tmp_path, timeout=60)
        assert r.returncode == 2 and "written as a plain number" in r.stderr, (bad, r.stderr)
    from mamlviz.analysis import study
    from mamlviz.config import BY_NAME

    notes = []
    assert study.parse_values(BY_NAME["inner_steps"], "1,3,1", notes) == [1, 3]
    assert notes == ["inner_steps: 1 is given more than once; it runs once"]


def test_an_unreachable_ray_address_fails_in_seconds(tmp_path):
    pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-cluster.txt")
    t0 = time.time()
    r = _cli("study", *tiny_cli(), "--ray", "127.0.0.1:1", "--out", str(tmp_path), tmp=tmp_path, timeout=120)
    assert r.returncode == 2 and "nothing answers at 127.0.0.1:1" in r.stderr, r.stderr
    assert time.time() - t0 < 30 and not list(tmp_path.glob("*.json"))


def test_a_typo_in_an_environment_setting_is_named_and_the_default_used(monkeypatch):
    from mamlviz import settings

    monkeypatch.setenv("MAMLVIZ_REFRESH_S", "abc")
    monkeypatch.setenv("MAMLVIZ_HOSTED", "maybe")
    assert settings.get("MAMLVIZ_REFRESH_S") == 1.0 and settings.get("MAMLVIZ_HOSTED") is None
    words = " ".join(settings.problems())
    assert "MAMLVIZ_REFRESH_S: must be a number from 0.2 to 60, got 'abc'" in words
    assert "MAMLVIZ_HOSTED: must be 1 or 0" in words
    monkeypatch.setenv("MAMLVIZ_REFRESH_S", "0.5")
    assert settings.get("MAMLVIZ_REFRESH_S") == 0.5 and json.dumps(settings.problems()).count("REFRESH") == 0


def test_a_job_seen_finished_already_says_where_its_record_went(tmp_path, monkeypatch):
    """The page redraws whenever it likes: the moment a job stops being active it must say saved-where or why
    not (a slow disk once let the page, and a test, see "done" with neither)."""
    real = records.save_run_somewhere

    def slow(*args, **kwargs):
        time.sleep(1.0)
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "save_run_somewhere", slow)
    reg = JobRegistry(tmp_path / "runs")
    try:
        job = reg.submit("compare", RunConfig(**{**TINY, "train_tasks": 4, "eval_tasks": 10}))
        end = time.time() + 120
        while job.active and time.time() < end:
            time.sleep(0.02)
        snap = job.snapshot()
    finally:
        reg.shutdown()
    assert snap["state"] == "done" and snap["phase"] == "finished" and snap["save_error"] is None
    assert snap["record_path"] and records.load(snap["record_path"])["id"] == snap["record"]["id"]
