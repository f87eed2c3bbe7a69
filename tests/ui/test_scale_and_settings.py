"""Pages at scale and under a bad setting (issue 20): hundreds of records, a typo in the environment, an
unreachable Ray cluster. No page breaks, none waits for the cluster."""

import copy
import json
import time

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from mamlviz import records

pytestmark = pytest.mark.usefixtures("fresh_server")


def _app(page=None):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    return at.switch_page(page).run() if page else at


def test_history_with_hundreds_of_records_draws_one_run_and_lists_them_all(fresh_server, tiny_record):
    fresh_server.mkdir(parents=True)
    for i in range(320):
        r = copy.deepcopy(tiny_record)
        r["id"], r["label"] = f"{r['id']}-{i:03d}", f"run {i:03d}"
        r["created"] = f"2026-11-01T10:{i // 60:02d}:{i % 60:02d}+00:00"
        records.save(r, fresh_server / f"run-{i:03d}.json")
    t0 = time.perf_counter()
    at = _app("views/history.py")
    first = time.perf_counter() - t0
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) >= 320  # every record is listed
    assert len(at.get("plotly_chart")) <= 8  # only the side-by-side chart and the one run picked are drawn
    t0 = time.perf_counter()
    at.run()
    print(f"History with 320 records: first open {first:.1f} s, rerun {time.perf_counter() - t0:.1f} s (AppTest)")


def test_a_typo_in_a_setting_breaks_no_page_and_is_named_in_the_sidebar(monkeypatch):
    monkeypatch.setenv("MAMLVIZ_REFRESH_S", "abc")
    at = _app()
    assert not at.exception, at.exception
    assert any("MAMLVIZ_REFRESH_S: must be a number from 0.2 to 60, got 'abc'" in w.value for w in at.sidebar.warning)
    at.switch_page("views/study.py").run()
    assert not at.exception


def test_an_unreachable_ray_cluster_never_holds_a_page(monkeypatch):
    pytest.importorskip("ray", reason="Ray is optional: pip install -r requirements-cluster.txt")
    monkeypatch.setenv("MAMLVIZ_RAY_ADDRESS", "127.0.0.1:1")
    t0 = time.perf_counter()
    at = _app()
    assert not at.exception and time.perf_counter() - t0 < 30
    for page in ("views/study.py", "views/history.py"):
        at.switch_page(page).run()
        assert not at.exception
    end = time.time() + 30
    words = ""
    while time.time() < end and "could not be used" not in words:
        time.sleep(0.5)
        at.run()
        words = json.dumps([c.value for c in at.sidebar.caption])
    assert "could not be used" in words and "nothing answers at 127.0.0.1:1" in words, words
