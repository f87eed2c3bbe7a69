"""Issue 23: the Claims page from the cached records of the tutorial's protocol, in the hosted copy too."""

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from mamlviz import claims, paths, records

pytestmark = pytest.mark.usefixtures("fresh_server")


def _claims_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    return at.switch_page("views/claims.py").run()


def test_each_claim_stands_beside_its_measured_figure_and_verdict_from_the_cached_records():
    found = [(p.name, r) for p, r in records.scan(paths.CACHED_RUNS)[0]]
    verdicts = claims.assess(claims.find(found))
    assert verdicts, "the cached runs hold the tutorial's protocol at 105x105"
    at = _claims_page()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    for c in verdicts:
        assert c.claim in text and c.measured in text, c.key
        boxes = [b.value for b in (*at.success, *at.error, *at.info)]
        assert any(c.verdict in b for b in boxes), c.key
    captions = " ".join(c.value for c in at.caption)
    assert "seed_experiment_cpu.json" in captions
    assert all(d in text for d in claims.DIFFERENCES)

    # the hosted copy (no torch) draws it too: tests/run/test_jobs.py's hosted script visits this page
