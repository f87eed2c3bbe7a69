"""A study submitted by address to a real Ray head node (127.0.0.1, a free port), stopped midway."""

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, tiny_cli

from mamlviz import records

pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-cluster.txt")
RAY = shutil.which("ray") or str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def head_node():
    port = free_port()
    start = [RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    start += ["--include-dashboard=false", "--disable-usage-stats"]
    subprocess.run(start, check=True, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True, timeout=120)


def test_a_study_on_a_head_node_stops_midway_and_leaves_consistent_records(head_node, tmp_path):
    args = [sys.executable, "-m", "mamlviz", "study", *tiny_cli(train_tasks=4000, alignment_points=0)]
    args += ["--seeds", "0,1,2", "--ray", head_node, "--out", str(tmp_path), "--quiet"]
    proc = subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    seen, deadline = [], time.monotonic() + 180
    try:
        while sum("running on" in line for line in seen) < 2 and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            seen.append(line)
        assert sum("running on" in line for line in seen) == 2, "".join(seen)
        time.sleep(5)  # both comparisons are set up and training
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(seen) + err
    assert "127.0.0.1" in "".join(seen) and "study record:" in out
    (study_file,) = [p for p in tmp_path.glob("*.json") if records.load(p)["kind"] == "study"]
    rec = records.load(study_file)
    assert rec["status"] == "stopped" and rec["setup"]["address"] == head_node
    states = sorted(r["state"] for r in rec["runs"])
    assert states == ["cancelled", "stopped", "stopped"], states  # two were training; the third never started
    trained = []
    for run in rec["runs"]:
        if run["state"] == "stopped":
            partial = records.load(tmp_path / run["record_file"])
            assert partial["status"] == "stopped" and partial["setup"]["evaluation"] == "skipped"
            trained.append(partial["results"]["maml"]["iterations_done"])
        else:
            assert run["record_file"] is None and run["where"] is None
    assert max(trained) > 0 and max(trained) < 2000, trained  # stopped midway through MAML's training
    assert len(list(tmp_path.glob("*.json"))) == 3 and not list(tmp_path.glob(".*"))
