"""A third variant added to the variant table shows everywhere, without touching charts or pages:
the engine trains it, the record holds it, the words, charts, studies, sweeps and every page show it."""

import json

import pytest
from conftest import ROOT, TINY
from streamlit.testing.v1 import AppTest

from mamlviz import RunConfig, compare, records, report, svgchart, sweep, variants
from mamlviz.analysis import study
from mamlviz.analysis.compare import compare_numbers
from mamlviz.charts import adapt as adapt_charts
from mamlviz.charts import compare as charts
from mamlviz.charts.history import history
from mamlviz.charts.scaling import scaling
from mamlviz.charts.study import study_payoff
from mamlviz.run.executors import LocalExecutor
from mamlviz.run.study_runner import Study

THIRD = variants.Variant(
    "fomaml_b",
    "FOMAML-B",
    "#2ca02c",
    "dot",
    first_order=True,
    adapts="every parameter",
    rule="a stand-in: FOMAML under another name",
)
ALL = "maml,fomaml,fomaml_b"


@pytest.fixture
def third(monkeypatch):
    monkeypatch.setitem(variants.VARIANTS, THIRD.name, THIRD)
    return THIRD


def _names(fig) -> set[str]:
    return {t.name for t in fig.data if t.name}


def test_a_third_variant_is_trained_recorded_worded_and_drawn(third, tmp_path):
    r = compare(RunConfig(**{**TINY, "algorithms": ALL}), params_dir=tmp_path)
    records.validate(json.loads(records.dumps(r)))
    res = r["results"]
    assert list(res) == ["maml", "fomaml", "fomaml_b"]
    # the stand-in trains exactly as FOMAML does: the same tasks, the same first-order gradient
    assert res["fomaml_b"]["curve"]["loss"] == pytest.approx(res["fomaml"]["curve"]["loss"], rel=1e-5)
    for name in res:  # during MAML's training every variant is measured; during another's, it alone
        a = res[name]["alignment"]
        assert list(a["variants"]) == (["fomaml", "fomaml_b"] if name == "maml" else [name])
    a = res["maml"]["alignment"]
    assert a["variants"]["fomaml_b"]["cosine"] == pytest.approx(a["variants"]["fomaml"]["cosine"], abs=1e-6)
    assert r["params_file"]["models"] == ["init", "maml", "fomaml", "fomaml_b"]
    c = compare_numbers(r)
    assert list(c.versus) == ["fomaml", "fomaml_b"]
    text = report.text_report(r)
    assert "FOMAML-B" in text.splitlines()[0] and "FOMAML-B against MAML:" in text
    assert "FOMAML-B" in report.recommendation(r) or "No recommendation" in report.recommendation(r)
    assert "FOMAML-B" in report.memory_words(r) and any("FOMAML-B" in w for w in report.alignment_words(r))
    assert "fomaml_b," in report.curves_csv(r)
    assert "FOMAML-B" in set(charts.result_bars(r).data[0].x)
    assert "FOMAML-B, during MAML's training" in _names(charts.alignment(r, every=True))
    own = {"FOMAML, during FOMAML's training", "FOMAML-B, during FOMAML-B's training"}
    assert _names(charts.alignment(r, every=False)) == own and len(_names(charts.alignment(r))) == 4
    assert "FOMAML-B raw" in _names(charts.curves({n: x["curve"] for n, x in res.items()}))
    assert "FOMAML-B (EMA)" in _names(charts.race(r))
    assert set(charts.race_facts(r)["ahead_from"]) == {"fomaml", "fomaml_b"}
    assert THIRD.color in svgchart.curves_svg({n: x["curve"] for n, x in res.items()}, "iteration", "it")
    assert "FOMAML-B" in _names(history([("a", r), ("b", r)]))
    trace = {m: {"accuracy": [0.2, 0.4], "loss": [1.0, 0.5]} for m in ("init", *res)}
    assert "FOMAML-B" in _names(adapt_charts.adaptation(trace, 1))


def test_a_third_variant_in_studies_and_sweeps(third, tiny_record):
    base = RunConfig(**{**TINY, "algorithms": ALL})
    p = study.plan({"seed": [0, 1], "inner_steps": [1, 2]}, base=base)
    three = json.loads(json.dumps(tiny_record))
    three["config"]["algorithms"] = ALL
    three["results"]["fomaml_b"] = {**three["results"]["fomaml"], "algorithm": "fomaml_b"}
    s = Study(p, LocalExecutor(), "three", "python")
    for run in p.runs:
        s.done[run.key] = three
        s.runs[run.key].state, s.runs[run.key].record_file, s.runs[run.key].attempts = "done", "x.json", 1
    s.status = "complete"
    rec = json.loads(json.dumps(s.record()))
    setting = rec["settings"][0]
    assert list(setting["variants"]) == ["maml", "fomaml", "fomaml_b"] and list(setting["versus"]) == [
        "fomaml",
        "fomaml_b",
    ]
    assert any("FOMAML-B" in line for line in report.verdicts(setting))
    assert "FOMAML-B−MAML points" in study.settings_rows(rec)[0] and "FOMAML-B" in report.study_report(rec)
    assert "FOMAML-B" in _names(study_payoff(rec, "inner_steps"))
    sw = sweep(base.replace(path="loop"), "inner_steps", (1,), iterations=1)
    assert [pt["algorithm"] for pt in sw["points"]] == ["maml", "fomaml", "fomaml_b"]
    assert {"FOMAML-B"} <= _names(scaling(sw["points"])) and "FOMAML-B" in report.sweep_report(sw)


def test_every_page_shows_a_third_variant(third, fresh_server, tmp_path):
    fresh_server.mkdir(parents=True)
    r = compare(RunConfig(**{**TINY, "algorithms": ALL}), label="three variants", params_dir=fresh_server)
    records.save(r, fresh_server / f"{r['id']}.json")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
    assert not at.exception, at.exception
    assert "FOMAML-B" in at.sidebar.multiselect(key="algorithms").options
    # the sidebar set to this run's settings: the page opens on it
    at.sidebar.multiselect(key="algorithms").set_value(["maml", "fomaml", "fomaml_b"])
    for key in ("inner_lr", "outer_lr", "inner_steps", "train_tasks", "n_way", "k_shot", "k_query", "meta_batch"):
        at.number_input(key=key).set_value(TINY[key])
    for key in ("eval_tasks", "eval_inner_steps"):
        at.number_input(key=key).set_value(TINY[key])
    at.run()
    text = " ".join(m.value for m in at.markdown)
    assert "FOMAML-B: " in text and "FOMAML-B against MAML" in text
    at.switch_page("views/theory.py").run()
    assert not at.exception and any("| FOMAML-B |" in m.value for m in at.markdown)
    at.switch_page("views/history.py").run()
    assert not at.exception and "FOMAML-B acc %" in at.dataframe[0].value.columns
    at.switch_page("views/adapt.py").run()
    assert not at.exception, at.exception
    captions = [img.caption for i in at.get("image") for img in i.proto.imgs]
    assert any(c.startswith("FOMAML-B: ") for c in captions), captions
