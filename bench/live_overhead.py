"""What drawing the live view costs training: the same run with the browser tab open and closed.

    python bench/live_overhead.py [--tasks 300] [--pairs 2]

Starts the dashboard (empty runs folder) and drives headless Chromium through the default CPU
comparison: one warm-up run (not counted), then pairs of runs, alternately closing the tab right
after Start (the job goes on in the server) and watching until the results appear. Prints each
run's training time per iteration (median and mean, from its record) and the open/closed ratios of
their averages. Chromium runs on the same machine, as a learner's laptop would; on 2 cores the two
compete for CPU. The runs are deterministic, so only the timings differ.
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from mamlviz.serve import dashboard


def wait_for_record(runs: Path, before: set, timeout: float = 600) -> dict:
    end = time.time() + timeout
    while time.time() < end:
        new = [p for p in runs.glob("*.json") if p not in before]
        if new:
            time.sleep(0.5)
            return json.loads(new[0].read_text())
        time.sleep(0.5)
    raise TimeoutError("no record")


def one_run(browser, url: str, runs: Path, tasks: int, keep_open: bool) -> dict:
    before = set(runs.glob("*.json"))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    page.get_by_role("button", name="Start").and_(page.locator(":enabled")).wait_for(timeout=120_000)
    box = page.get_by_label("Training tasks", exact=True)
    box.fill(str(tasks))
    box.press("Enter")
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Start").click()
    page.wait_for_function("() => document.body.innerText.includes('it/s')", timeout=120_000)
    if keep_open:
        record = wait_for_record(runs, before)
        page.get_by_text("Results", exact=True).wait_for(timeout=120_000)
    else:
        page.close()
        record = wait_for_record(runs, before)
    if keep_open:
        page.close()
    return record


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=300)
    ap.add_argument("--pairs", type=int, default=2, help="closed/open pairs of runs, alternated")
    args = ap.parse_args()
    runs = Path(tempfile.mkdtemp())
    with dashboard(runs) as (url, _):
        url += "/"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"]
            )
            one_run(browser, url, runs, args.tasks, keep_open=False)  # warm-up, not counted: a fresh server's
            # first run pays for imports and first-time allocations
            per = {"tab closed": [], "tab open": []}
            for _ in range(args.pairs):  # alternate, so that a slow moment of the machine hits both alike
                for label, keep_open in (("tab closed", False), ("tab open", True)):
                    rec = one_run(browser, url, runs, args.tasks, keep_open)
                    per[label].append(rec)
                    print(
                        label,
                        ", ".join(
                            f"{n.upper()} {rec['results'][n]['per_iteration_ms_median']:.1f} ms median / "
                            f"{rec['results'][n]['per_iteration_ms']:.1f} ms mean per iteration"
                            for n in ("maml", "fomaml")
                        ),
                        flush=True,
                    )
            browser.close()
        env = rec["environment"]
        print(
            f"\n{env['device_name']} | torch {env['torch']} | CPU default config, {args.tasks} tasks, "
            f"{args.pairs} pair(s) of runs after a warm-up"
        )
        for n in ("maml", "fomaml"):
            mean = {k: statistics.fmean(r["results"][n]["per_iteration_ms"] for r in v) for k, v in per.items()}
            median = {
                k: statistics.fmean(r["results"][n]["per_iteration_ms_median"] for r in v) for k, v in per.items()
            }
            print(
                f"{n.upper():7} open/closed per-iteration time: mean {mean['tab open'] / mean['tab closed']:.2f}x, "
                f"median {median['tab open'] / median['tab closed']:.2f}x"
            )


if __name__ == "__main__":
    main()
