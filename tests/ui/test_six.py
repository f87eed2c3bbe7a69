"""The six algorithms on the pages, from the cached six-algorithm run and study (issue 22)."""

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from mamlviz import variants

pytestmark = pytest.mark.usefixtures("fresh_server")


def _app():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()


def test_theory_has_a_section_per_algorithm_with_its_rule_paper_figures_and_code():
    at = _app().switch_page("views/theory.py").run()
    assert not at.exception, at.exception
    labels = [t.label for t in at.tabs]
    assert [variants.label(n) for n in variants.VARIANTS] == labels[: len(variants.VARIANTS)]
    text = " ".join(m.value for m in at.markdown)
    for v in variants.VARIANTS.values():
        assert v.paper in text and all(line in text for line in v.published), v.name
    code = "\n".join(c.value for c in at.code)
    assert code.count("def task(self") == len(variants.VARIANTS)  # every algorithm's own step, MAML's included
    assert code.count("def _loop_meta_gradient") == 1  # the one loop that runs them all, in the engine's code


def test_one_click_opens_compare_on_the_cached_six_algorithm_run():
    at = _app()
    shows = [b for b in at.button if b.label.startswith("Show the recorded run of MAML, FOMAML, Reptile")]
    assert len(shows) == 1
    shows[0].click().run()
    assert not at.exception, at.exception
    assert at.sidebar.multiselect(key="algorithms").value == list(variants.VARIANTS)
    text = " ".join(m.value for m in at.markdown)
    for v in list(variants.VARIANTS.values())[1:]:
        assert f"{v.label} against MAML" in text, v.label
    assert any("Six algorithms" in s.value for s in at.subheader)


def test_a_study_can_race_any_algorithms():
    at = _app().switch_page("views/study.py").run()
    assert not at.exception, at.exception
    pick = at.multiselect(key="study-algorithms")
    assert pick.value == list(variants.DEFAULT) and set(pick.options) == {variants.label(n) for n in variants.VARIANTS}
    pick.set_value([]).run()
    assert any("Choose at least one algorithm" in e.value for e in at.error)
