"""Time from navigation to an interactive first page, in headless Chromium, server already up.

    python bench/first_page.py [--repeat 3]

Starts `streamlit run app.py` with an empty runs folder (so the page shows the latest cached run),
waits until the server answers, then for each repeat opens a fresh browser tab and measures until
the Start button is enabled and the latest run's curves are drawn, and then until its result charts
(Plotly, loaded after) are drawn too. The first tab after the server
starts is what a visitor to a freshly started hosted copy waits; later tabs, what everyone else does.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    port = free_port()
    env = {**os.environ, "MAMLVIZ_RUNS_DIR": tempfile.mkdtemp()}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        t0 = time.perf_counter()
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        print(f"server answering after {time.perf_counter() - t0:.1f} s")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            for i in range(args.repeat):
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                t = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/")
                page.get_by_role("button", name="Start").and_(page.locator(":enabled")).wait_for(timeout=120_000)
                page.locator('[data-testid="stMarkdown"] svg polyline').first.wait_for(timeout=120_000)
                ready = time.perf_counter() - t
                page.locator(".js-plotly-plot .barlayer").first.wait_for(timeout=120_000)
                charts = time.perf_counter() - t
                print(
                    f"tab {i + 1}: interactive with the latest run's curves drawn after {ready:.2f} s; "
                    f"its result charts (Plotly) after {charts:.2f} s"
                )
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
