"""Adaptation explorer: a run's networks adapting to a held-out task, step by step."""

from pathlib import Path

import numpy as np
import streamlit as st

from mamlviz import records, variants
from mamlviz.charts import label
from mamlviz.charts.adapt import adaptation, adaptation_average, model_name
from views import _state

TILE_COLORS = {True: (44, 160, 44), False: (214, 39, 40)}  # green: right after adaptation, red: wrong
FRAME = 5  # pixels of frame around a tile: solid green when right, red and white stripes when wrong


def file_state(path, record) -> tuple | None:
    """What identifies the run's parameter file as it is now (a changed file is checked again)."""
    try:
        st_ = (Path(path).parent / record["params_file"]["file"]).stat()
        return st_.st_mtime_ns, st_.st_size
    except OSError:
        return None


def cache_key(path, record) -> tuple:
    """What identifies a run's networks for the caches below: file, record, the parameter file's state."""
    return str(path), record["id"], record["params_file"]["sha256"], file_state(path, record)


@st.cache_resource(max_entries=4)
def run_networks(key: tuple, _record: dict):
    """The run's networks (the initialisation and each variant's), checked against the record's sha256; cached per
    ``cache_key`` (the record itself, underscored, is not hashed)."""
    from mamlviz.engine import explore

    return explore.load_params(key[0], _record)


@st.cache_resource(max_entries=1)
def test_data(image_size: int = 28):
    import torch

    from mamlviz.engine.data import load_data

    return load_data(torch.device("cpu"), image_size)


@st.cache_data(max_entries=32, show_spinner=False)
def one_task(key: tuple, task_seed: int, steps: int, _record: dict) -> tuple[dict, np.ndarray, list]:
    from mamlviz import RunConfig
    from mamlviz.engine import explore

    cfg = RunConfig.from_dict(_record["config"])
    task = explore.test_task(test_data(cfg.image_size), cfg, task_seed)
    trace = explore.adapt_one(run_networks(key, _record), task, cfg.inner_lr, steps, cfg.batch_norm)
    support = task.xs[0, :: cfg.k_shot, 0].numpy()  # one image per class
    return trace, support, task.xq[0, :, 0].numpy()


@st.cache_data(max_entries=32, show_spinner=False)
def many_tasks(key: tuple, steps: int, tasks: int, _record: dict) -> dict:
    from mamlviz import RunConfig
    from mamlviz.engine import explore

    cfg = RunConfig.from_dict(_record["config"])
    return explore.adapt_many(run_networks(key, _record), test_data(cfg.image_size), cfg, steps, tasks)


def tiles(
    images: np.ndarray, correct: list[bool] | None = None, scale: int = 2, per_row: int | None = None
) -> np.ndarray:
    """Images (ink dark on white) in rows of ``per_row``, each framed green or red when ``correct`` is given."""
    if per_row and len(images) > per_row:
        rows = [
            tiles(images[i : i + per_row], None if correct is None else correct[i : i + per_row], scale)
            for i in range(0, len(images), per_row)
        ]
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        return np.concatenate(rows, axis=0)
    out = []
    for i, img in enumerate(images):
        grey = np.kron(255 - (img * 255).astype(np.uint8), np.ones((scale, scale), dtype=np.uint8))
        rgb = np.stack([grey] * 3, axis=-1)
        b = FRAME
        frame = np.full((rgb.shape[0] + 2 * b, rgb.shape[1] + 2 * b, 3), 255, dtype=np.uint8)
        if correct is not None:
            frame[:] = TILE_COLORS[bool(correct[i])]
            if not correct[i]:  # wrong: a striped frame, which reads without colour too
                yy, xx = np.indices(frame.shape[:2])
                frame[((yy + xx) // 4) % 2 == 1] = 255
        frame[b:-b, b:-b] = rgb
        out.append(frame)
        out.append(np.full((frame.shape[0], 4, 3), 255, dtype=np.uint8))
    return np.concatenate(out[:-1], axis=1)


def pick_run():
    """A compare run with saved networks; None (and why) when there is none."""
    compares = _state.of_kind("compare")
    with_params = [(p, r) for p, r in compares if r["params_file"]]
    if len(compares) > len(with_params):
        st.caption(
            f"{len(compares) - len(with_params)} run(s) saved no networks (a study's runs, runs made before this "
            "view existed, or through the Python API without params_dir) and are not listed."
        )
    if not with_params:
        st.info("No run with saved networks yet: run a comparison on the Compare page (or the command line).")
        return None
    titles = [f"{_state.run_title(r)}{run_state(r)} · {r['created'][:16]}" for _, r in with_params]
    idx = st.selectbox("Run", range(len(with_params)), format_func=titles.__getitem__, key="adapt-run")
    path, record = with_params[idx]
    if record["status"] != "complete":
        st.warning(f"This run {run_state(record).strip(' ·()')}: its networks are as far as they got.")
    return path, record


def run_state(record: dict) -> str:
    """' (stopped at MAML 12/150, FOMAML 12/150)' for a run that did not complete; '' for one that did."""
    if record["status"] == "complete":
        return ""
    done = ", ".join(
        f"{variants.label(n)} {r['iterations_done']}/{r['iterations_planned']}" for n, r in record["results"].items()
    )
    return f" ({record['status']} at {done})"


def one_task_view(path, record, steps: int) -> None:
    """Support set, the networks' accuracy and loss step by step, and which queries each gets right."""
    cfg = record["config"]
    c1, c2 = st.columns([3, 1])
    seed = st.session_state.setdefault("adapt-task", 1)
    if c2.button("Another task", key="adapt-another", width="stretch"):
        st.session_state["adapt-task"] = seed = seed + 1
    c1.markdown(f"**Held-out task #{seed}** (test characters only; {cfg['n_way']}-way {cfg['k_shot']}-shot)")
    with st.spinner("Adapting the networks to this task…"):
        trace, support, queries = one_task(cache_key(path, record), seed, steps, record)
    st.image(tiles(support, scale=3), caption="Support set: one image per class, all the networks get to adapt on")
    st.plotly_chart(adaptation(trace, record["config"]["eval_inner_steps"]), key="adapt-one")
    st.markdown(
        f"Query images after {steps} inner step(s), one row per class: a **solid green** frame is right, a "
        "**striped red** frame wrong."
    )
    # a few queries per class: the networks side by side; many: one network under the other, wide enough to see
    places = st.columns(len(trace)) if cfg["k_query"] <= 5 else [st.container() for _ in trace]
    for place, name in zip(places, trace):
        right = trace[name]["correct"][steps]
        place.image(
            tiles(queries, right, scale=3, per_row=cfg["k_query"]),
            caption=f"{model_name(name)}: {sum(right)}/{len(right)} right",
            width="stretch",
        )


def average_view(path, record, steps: int) -> None:
    """Accuracy against adaptation steps, averaged over the run's own evaluation tasks: computed when asked for
    (it adapts every network to many tasks), so that the page opens at once; then remembered per run."""
    if not st.toggle(
        "Average over the run's evaluation tasks",
        key="adapt-average",
        help="Adapts every network to the first evaluation tasks of the run, K steps each: seconds to a minute "
        "on a CPU. Remembered for this run once done.",
    ):
        st.caption("Switch it on to see the average: the one task above is computed already.")
        return
    n = st.slider(
        "Evaluation tasks to average over",
        8,
        min(200, record["config"]["eval_tasks"]),
        min(16, record["config"]["eval_tasks"]),
        key="adapt-tasks",
        help="The first tasks of the run's own evaluation stream; each costs K adaptation steps for each of the "
        "networks, so more tasks take proportionally longer.",
    )
    with st.spinner(f"Adapting the networks to {n} tasks, {steps} steps each…"):
        many = many_tasks(cache_key(path, record), steps, n, record)
    st.plotly_chart(adaptation_average(many, record["chance"], record["config"]["eval_inner_steps"]), key="adapt-many")
    one = min(1, steps)
    best = {m: max(range(steps + 1), key=lambda k: many[m]["accuracy"][k]) for m in many}
    shown = [m for m in many if m != "init"] + ["init"]
    st.markdown(
        f"After {one} step: "
        + ", ".join(f"{model_name(m)} {many[m]['accuracy'][one]:.0%}" for m in shown)
        + f" (mean of {many['init']['tasks']} tasks). Best step: "
        + ", ".join(f"{model_name(m)} {best[m]}" for m in shown)
        + "."
    )


st.title("Adaptation explorer")
st.markdown(
    "MAML's claim is that it learns an **initialisation that adapts fast**: a few gradient steps on a new "
    "task's support set are enough. Here a run's networks — the shared random initialisation and the "
    "meta-trained ones — adapt to held-out tasks step by step, so you can see that claim hold or fail."
)
caps = _state.capabilities()
if not caps.torch:
    st.info("This view adapts networks live and needs PyTorch, which this server does not have.")
else:
    chosen = pick_run()
    if chosen is not None:
        path, record = chosen
        from mamlviz.engine.explore import ParamsError

        try:
            run_networks(cache_key(path, record), record)
        except ParamsError as e:
            st.error(f"This run's networks cannot be shown: {e}. Its other results are on the History page.")
        else:
            steps = st.slider(
                "Inner steps of adaptation (K)",
                1,
                10,
                5,
                key="adapt-steps",
                help=f"The run trained with {record['config']['inner_steps']} and was tested "
                f"with {record['config']['eval_inner_steps']}.",
            )
            one_task_view(path, record, steps)
            st.subheader("Averaged over the run's evaluation tasks")
            average_view(path, record, steps)
            st.caption(
                f"{label(record)}. Inner learning rate {record['config']['inner_lr']}. "
                f"Networks: {records.ParamsFile.__doc__.strip()} ({record['params_file']['file']}, "
                "sha256-checked). Computed on this server's CPU."
            )
