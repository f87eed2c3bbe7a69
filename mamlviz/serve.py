"""The dashboard served by a Streamlit process of its own, on a free local port: for the browser tests,
the screenshots and the live-view benchmark. No torch, no Streamlit import here (it runs in the child)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request

from .paths import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def dashboard(runs_dir, *, env: dict | None = None, timeout_s: float = 60.0, output=subprocess.DEVNULL):
    """``streamlit run app.py`` on 127.0.0.1 and a free port, with its run records in ``runs_dir``; yields
    (url, process) once the server answers its health check, and ends the process on the way out."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
        + ["--server.address", "127.0.0.1", "--server.headless", "true"],
        cwd=ROOT,
        env={**os.environ, **(env or {}), "MAMLVIZ_RUNS_DIR": str(runs_dir)},
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the dashboard did not start (exit code {proc.poll()})") from None
                time.sleep(0.3)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
