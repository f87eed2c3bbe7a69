"""The dashboard through Streamlit's AppTest: pages render, validation, a tiny live run, bad records."""

import json
import time

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from mamlviz import records

TINY_UI = {
    "train_tasks": 8, "meta_batch": 2, "k_query": 2, "eval_tasks": 10, "eval_inner_steps": 1, "inner_steps": 1,
    "validation_points": 2, "validation_tasks": 4,
}  # fmt: skip


pytestmark = pytest.mark.usefixtures("fresh_server")  # every test: its own registry and runs folder


def _chart_titles(at) -> set[str]:
    """Every subplot title (Plotly annotation) on the page."""
    return {
        a["text"] for c in at.get("plotly_chart") for a in json.loads(c.proto.spec)["layout"].get("annotations", [])
    }


def _sweep_from_the_scaling_page(fresh_server, values, over=None) -> tuple:
    at = _app().switch_page("views/scaling.py").run()
    if over:
        at.radio(key="sweep-over").set_value(over).run()
    at.multiselect[0].set_value(values)
    at.number_input[0].set_value(2)
    at.number_input[1].set_value(1)
    at.run()
    [b for b in at.button if b.label == "Start sweep"][0].click().run()
    at = _poll(at, lambda a: any("Finished: sweep" in s.value for s in a.success))
    at.run()
    return at, records.load(next(fresh_server.glob("*.json")))


def _app():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()


@pytest.mark.parametrize(
    "page",
    ["views/compare.py", "views/theory.py", "views/scaling.py", "views/adapt.py", "views/study.py", "views/history.py"],
)
def test_every_page_renders(page):
    at = _app()
    at.switch_page(page).run()
    assert not at.exception, at.exception


def test_theory_shows_the_engines_own_code():
    at = _app().switch_page("views/theory.py").run()
    code = "\n".join(c.value for c in at.code)
    assert "def adapt" in code and "def _vmap_meta_gradient" in code
    assert any("Hessian" in x.value for x in at.latex)


def test_invalid_combination_is_explained_and_start_disabled():
    at = _app()
    at.number_input(key="meta_batch").set_value(8)
    at.number_input(key="train_tasks").set_value(4)
    at.run()
    assert any("train_tasks" not in e.value and "at least meta_batch" in e.value for e in at.sidebar.error)
    start = [b for b in at.sidebar.button if b.label == "Start"][0]
    assert start.disabled
    at.number_input(key="train_tasks").set_value(16).run()
    assert not [b for b in at.sidebar.button if b.label == "Start"][0].disabled


def test_the_sidebar_has_one_control_per_config_field():
    from mamlviz.config import FIELDS

    at = _app()
    widgets = [*at.sidebar.number_input, *at.sidebar.selectbox, *at.sidebar.multiselect]
    keys = {w.key for w in widgets}
    assert {f.name for f in FIELDS if f.group != "hidden"} <= keys
    labels = {w.key: w.label for w in widgets}
    assert all(labels[f.name] == f.label for f in FIELDS if f.group in ("basic", "advanced", "algorithms"))
    assert at.sidebar.multiselect(key="algorithms").value == ["maml", "fomaml"]


def test_preset_fills_the_controls():
    at = _app()
    at.selectbox(key="preset").set_value("Seed tutorial's experiment: 105×105 images, 200 tasks, 5 inner steps").run()
    assert at.number_input(key="train_tasks").value == 200 and at.number_input(key="inner_steps").value == 5
    assert at.number_input(key="inner_lr").value == pytest.approx(0.01)
    assert at.selectbox(key="image_size").value == 105  # the tutorial's images, not shrunk


def _start(at, **settings):
    for key, value in {**TINY_UI, **settings}.items():
        at.number_input(key=key).set_value(value)
    at.selectbox(key="device").set_value("cpu")
    at.run()
    [b for b in at.sidebar.button if b.label == "Start"][0].click().run()
    return at


def _poll(at, until, timeout=180):
    end = time.time() + timeout
    while time.time() < end:
        time.sleep(0.5)
        at.run()  # AppTest cannot fire run_every: rerun by hand
        if until(at):
            return at
    raise AssertionError("timed out waiting for the run")


def test_a_tiny_run_from_the_compare_page_completes_and_shows_results(fresh_server):
    at = _start(_app())
    assert not at.exception
    at = _poll(at, lambda a: any(s.value == "Results" for s in a.subheader))
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    titles = {a["text"] for f in figs for a in f["layout"].get("annotations", [])}
    assert {"training time (s)", "test accuracy (%)"} <= titles
    curves = [f for f in figs if any(t.get("mode") == "lines" for t in f["data"])]
    names = {t["name"] for t in curves[0]["data"]}  # a smoothed line over faint raw points, said in the legend
    span = 2  # 4 iterations: a short curve gets a short span (curves.span_for), and the legend says which
    assert {
        f"MAML (EMA, span {span}; faint: raw)",
        f"FOMAML (EMA, span {span}; faint: raw)",
        "MAML raw",
        "FOMAML raw",
    } == names
    assert all(t.get("opacity", 1) < 0.5 for t in curves[0]["data"] if t["name"].endswith(" raw"))
    assert any("FOMAML" in m.value and "faster" in m.value or "slower" in m.value for m in at.markdown)
    assert any("Recommendation" in i.value for i in at.info)
    saved = list(fresh_server.glob("*.json"))
    assert len(saved) == 1 and records.load(saved[0])["status"] == "complete"
    assert records.load(saved[0])["setup"]["launched_from"] == "dashboard"
    texts = [p.proto.text for p in at.get("progress")]
    assert any(t.startswith("MAML: 4/4 iterations") and t.endswith("complete") for t in texts), texts


def test_stop_keeps_partial_results(fresh_server):
    at = _app()
    TINY = {**TINY_UI, "train_tasks": 4000}
    for key, value in TINY.items():
        at.number_input(key=key).set_value(value)
    at.selectbox(key="device").set_value("cpu")
    at.run()
    [b for b in at.sidebar.button if b.label == "Start"][0].click().run()
    _poll(
        at,
        lambda a: any("MAML: " in (p.proto.text or "") and "it/s" in (p.proto.text or "") for p in a.get("progress")),
    )
    [b for b in at.button if b.label == "Stop"][0].click().run()
    at = _poll(at, lambda a: any(s.value == "Results" for s in a.subheader))
    assert any("Stopped early" in w.value for w in at.warning)
    rec = records.load(next(fresh_server.glob("*.json")))
    m, f = rec["results"]["maml"], rec["results"]["fomaml"]  # both partial, at the same iteration
    assert rec["status"] == "stopped" and m["status"] == f["status"] == "stopped"
    assert m["iterations_done"] == f["iterations_done"] >= 1


def test_corrupt_record_files_are_listed_as_skipped(fresh_server, tiny_record):
    fresh_server.mkdir(parents=True)
    records.save(tiny_record, fresh_server / "good.json")
    (fresh_server / "broken.json").write_text('{"schema": "mamlviz.run", "version": 1')
    (fresh_server / "old.json").write_text(json.dumps({**tiny_record, "version": 0}))
    at = _app().switch_page("views/history.py").run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "broken.json" in text and "not valid JSON" in text and "old.json" in text and "version" in text
    assert len(at.dataframe) == 1


def test_a_tiny_sweep_from_the_scaling_page(fresh_server):
    at, rec = _sweep_from_the_scaling_page(fresh_server, [1, 2])
    assert rec["kind"] == "sweep" and {(p["algorithm"], p["inner_steps"]) for p in rec["points"]} == {
        ("maml", 1),
        ("fomaml", 1),
        ("maml", 2),
        ("fomaml", 2),
    }
    assert not at.exception
    titles = _chart_titles(at)
    wanted = {
        "held for backprop (MiB, exact)",
        "cosine with MAML's meta-gradient",
        "norm of the difference from MAML's",
    }
    assert wanted <= titles


def test_an_inner_learning_rate_sweep_from_the_scaling_page(fresh_server):
    at, rec = _sweep_from_the_scaling_page(fresh_server, [0.001, 0.4], over="inner_lr")
    assert rec["protocol"]["over"] == "inner_lr" and {p["inner_lr"] for p in rec["points"]} == {0.001, 0.4}
    assert any(
        "Gradient alignment at the initialisation: from inner learning rate 0.001" in m.value for m in at.markdown
    )


def test_a_second_session_sees_the_running_job_and_can_watch_or_queue(fresh_server):
    first = _app()
    for key, value in {**TINY_UI, "train_tasks": 4000}.items():
        first.number_input(key=key).set_value(value)
    first.selectbox(key="device").set_value("cpu")
    first.run()
    [b for b in first.sidebar.button if b.label == "Start"][0].click().run()
    second = _app()  # another browser session: same server-wide registry
    assert any("Another session's run is in progress" in i.value for i in second.info)
    assert not [b for b in second.sidebar.button if b.label == "Start"][0].disabled
    assert any("Start queues yours behind it" in c.value for c in second.sidebar.caption)
    [b for b in second.button if b.label == "Watch it"][0].click().run()
    _poll(second, lambda a: any("MAML: " in (p.proto.text or "") for p in a.get("progress")))
    [b for b in second.button if b.label == "Stop"][0].click().run()
    _poll(second, lambda a: any(s.value == "Results" for s in a.subheader))


def test_two_starts_within_a_second_give_one_running_and_one_queued(fresh_server):
    from views import _state as common

    first, second = _app(), _app()  # both pages drawn while the server is idle
    for at in (first, second):
        for key, value in {**TINY_UI, "train_tasks": 4000}.items():
            at.number_input(key=key).set_value(value)
        at.selectbox(key="device").set_value("cpu")
        at.run()
    [b for b in first.sidebar.button if b.label == "Start"][0].click().run()
    [b for b in second.sidebar.button if b.label == "Start"][0].click().run()  # its page predates the first run
    reg = common.registry()
    jobs = [reg.get(a.session_state["job_id"]) for a in (first, second)]
    end = time.time() + 30
    while reg.running() is None and time.time() < end:  # the worker picks the first job up
        time.sleep(0.05)
    assert jobs[0].id != jobs[1].id and reg.running() is jobs[0]
    assert jobs[1].state == "queued" and reg.position(jobs[1].id) == 1
    assert any("Queued (position 1)" in i.value for i in second.info)
    for job in jobs:
        reg.stop(job.id)


def test_the_adaptation_explorer_shows_a_task_and_the_average_and_says_when_networks_are_broken(fresh_server, tiny_run):
    import shutil

    path, record = tiny_run
    fresh_server.mkdir(parents=True)
    shutil.copy(path, fresh_server / path.name)
    shutil.copy(path.parent / record["params_file"]["file"], fresh_server / record["params_file"]["file"])
    at = _app().switch_page("views/adapt.py").run()
    assert not at.exception, at.exception
    captions = [img.caption for i in at.get("image") for img in i.proto.imgs]
    assert any(c.startswith("Support set") for c in captions) and any(c.startswith("MAML: ") for c in captions)
    titles = _chart_titles(at)
    assert "query accuracy (this task)" in titles
    assert not any("After 1 step:" in m.value for m in at.markdown)  # the average waits to be asked for
    at.toggle(key="adapt-average").set_value(True).run()
    assert any("After 1 step:" in m.value for m in at.markdown)
    before = at.session_state["adapt-task"]
    [b for b in at.button if b.label == "Another task"][0].click().run()
    assert at.session_state["adapt-task"] == before + 1 and not at.exception
    (fresh_server / record["params_file"]["file"]).write_bytes(b"not safetensors")
    at = _app().switch_page("views/adapt.py").run()
    assert not at.exception
    assert any("cannot be shown" in e.value and "the record says" in e.value for e in at.error)  # its size


def test_results_say_why_they_differ_with_the_measured_alignment(fresh_server, tiny_record):
    fresh_server.mkdir(parents=True)
    records.save(tiny_record, fresh_server / "tiny.json")
    at = _app().switch_page("views/history.py").run()
    assert not at.exception
    titles = _chart_titles(at)
    assert {
        "cosine with MAML's meta-gradient",
        "cosine per layer, end of training",
        "held for backprop (MiB, exact)",
    } <= titles
    text = " ".join(m.value for m in at.markdown)
    assert "Why they differ, measured on this run" in text and "Held for backpropagation in one meta-iteration" in text


def test_stop_is_acknowledged_on_the_click_and_the_evaluation_can_be_skipped(fresh_server):
    at = _start(_app(), train_tasks=4000, eval_tasks=5000)
    _poll(at, lambda a: any("it/s" in (p.proto.text or "") for p in a.get("progress")))
    [b for b in at.button if b.label == "Stop"][0].click().run()
    assert any("Stop taken" in w.value for w in at.warning)  # in the very redraw the click caused
    at = _poll(at, lambda a: any("evaluating on the test tasks…" in (p.proto.text or "") for p in a.get("progress")))
    [b for b in at.button if b.label == "Skip evaluation"][0].click().run()
    at = _poll(at, lambda a: any(s.value == "Results" for s in a.subheader))
    rec = records.load(next(fresh_server.glob("*.json")))
    assert rec["status"] == "stopped" and rec["setup"]["evaluation"] == "skipped"
    assert any("Evaluation was skipped" in w.value for w in at.warning)


def test_the_owner_can_take_a_queued_run_off_the_queue(fresh_server):
    from views import _state as common

    first = _start(_app(), train_tasks=4000)
    second = _start(_app())
    assert any("Queued (position 1)" in i.value for i in second.info)
    [b for b in second.button if b.label == "Take off the queue"][0].click().run()
    assert any("Taken off the queue" in w.value for w in second.warning)
    assert not [b for b in first.button if b.label == "Take off the queue"]  # not the first's to take off
    common.registry().stop(first.session_state["job_id"])


def test_a_cpu_machine_is_local_unless_told_it_is_hosted(fresh_server, monkeypatch):
    from views import _state as common

    monkeypatch.delenv("MAMLVIZ_HOSTED", raising=False)
    at = _app()
    assert not any("Hosted mode" in c.value for c in at.sidebar.caption)
    at.number_input(key="train_tasks").set_value(50_000).run()
    assert not at.sidebar.error  # the hosted size limits do not apply locally
    monkeypatch.setenv("MAMLVIZ_HOSTED", "1")
    common.capabilities.clear()
    at = _app()
    assert any("Hosted mode" in c.value for c in at.sidebar.caption)
    at.number_input(key="train_tasks").set_value(50_000).run()
    assert any("at most 4000 for live training" in e.value for e in at.sidebar.error)


def test_fair_by_time_gives_both_the_same_training_time_and_says_so(fresh_server):
    at = _app()
    at.selectbox(key="fairness").set_value("time")
    at = _start(at)
    at = _poll(at, lambda a: any(s.value == "Results" for s in a.subheader))
    rec = records.load(next(fresh_server.glob("*.json")))
    m, f = rec["results"]["maml"], rec["results"]["fomaml"]
    assert rec["config"]["fairness"] == "time" and f["stop_reason"] == "time budget"
    assert f["tasks_seen"] > m["tasks_seen"] and abs(f["train_time_s"] - m["train_time_s"]) < 0.5 * m["train_time_s"]
    assert any("Compared at equal training time (FOMAML saw" in i.value for i in at.info)


def test_a_tiny_study_from_the_studies_page(fresh_server):
    at = _app().switch_page("views/study.py").run()
    assert any("CPU study: inner steps 1, 3, 5" in o for o in at.selectbox[0].options)  # the cached study
    at.multiselect(key="study-seeds").set_value([0, 1])
    at.multiselect(key="study-inner_steps").set_value([1, 2])
    at.number_input[0].set_value(4)  # training tasks per run: 2 iterations
    at.number_input[1].set_value(10)  # test tasks per run
    at.run()
    assert any("4 comparisons: 2 settings × 2 seeds" in c.value for c in at.caption)
    [b for b in at.button if b.label == "Start study"][0].click().run()
    at = _poll(at, lambda a: any("Finished: study" in s.value for s in a.success))
    at.run()
    found = [records.load(p) for p in fresh_server.glob("*.json")]
    (rec,) = [r for r in found if r["kind"] == "study"]
    assert rec["status"] == "complete" and rec["setup"]["launched_from"] == "dashboard"
    assert len(found) == 5 and [r["state"] for r in rec["runs"]] == ["done"] * 4
    assert at.selectbox[0].value == 0 and at.selectbox[0].options[0].startswith("study inner_steps 1,2")  # newest
    assert any(s.value.startswith("Complete: 4 comparisons (4 done)") for s in at.success)
    table = at.dataframe[0].value
    assert list(table["setting"]) == ["inner steps 1", "inner steps 2"] and list(table["seeds"]) == [2, 2]
    assert "accuracy − MAML's (points)" in _chart_titles(at)
    assert any("inner steps 1" in m.value and "FOMAML's training time" in m.value for m in at.markdown)


def test_the_study_form_explains_what_is_missing(fresh_server):
    at = _app().switch_page("views/study.py").run()
    at.multiselect(key="study-seeds").set_value([]).run()
    assert any(e.value == "Choose at least one seed." for e in at.error)
    assert [b for b in at.button if b.label == "Start study"][0].disabled


def test_without_ray_the_app_runs_here_and_says_how_to_use_a_cluster(fresh_server, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if Ray were not installed
    monkeypatch.setenv("MAMLVIZ_RAY_ADDRESS", "127.0.0.1:6379")
    at = _app().switch_page("views/study.py").run()
    assert not at.exception
    where = [c.value for c in at.sidebar.caption if c.value.startswith("Runs:")]
    assert where and "on this server, one at a time" in where[0], where
    assert "pip install -r requirements-cluster.txt" in where[0]
