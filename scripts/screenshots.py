"""Every page in headless Chromium, at a projector's and a phone's size, as PNG screenshots to look at.

    python scripts/screenshots.py --out DIR [--pages compare,theory] [--sizes 1280x720,390x844] [--wait 8]

Starts the dashboard on a free local port (runs folder: $MAMLVIZ_RUNS_DIR, or a fresh temporary one),
opens each page, waits for it to settle, and saves DIR/<page>-<width>x<height>.png (full page). Uses
Debian's chromium (/usr/bin/chromium), as the browser tests do.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from mamlviz.serve import dashboard

PAGES = {
    "compare": "",
    "theory": "theory",
    "claims": "claims",
    "scaling": "scaling",
    "adapt": "adapt",
    "study": "study",
    "history": "history",
}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--pages", default=",".join(PAGES))
    ap.add_argument("--sizes", default="1280x720,390x844")
    ap.add_argument("--wait", type=float, default=8.0, help="seconds a page gets to draw its charts")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    runs = os.environ.get("MAMLVIZ_RUNS_DIR") or tempfile.mkdtemp(prefix="mamlviz-shots-")
    with dashboard(runs) as (url, _), sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        for size in args.sizes.split(","):
            w, h = (int(v) for v in size.split("x"))
            page = browser.new_page(viewport={"width": w, "height": h})
            for name in args.pages.split(","):
                page.goto(f"{url}/{PAGES[name]}")
                page.wait_for_timeout(args.wait * 1000)
                target = args.out / f"{name}-{w}x{h}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target)
            page.close()
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
