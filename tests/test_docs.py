"""The README and docs/ say what the code and the records say."""

import re
import subprocess
import sys

from conftest import ROOT


def test_results_page_is_what_the_cached_records_say():
    r = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "results_doc.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr


def test_the_readme_is_short_and_gives_the_commands_and_links_that_exist():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    for command in ("pip install -r requirements.txt", "streamlit run app.py", "python -m pytest -q"):
        assert command in text
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link


def test_documented_defaults_match_the_code():
    from views._config_form import refresh_period

    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert f"(default {refresh_period():.1f} s)" in deploy
