import threading
from pathlib import Path

import pytest
import streamlit as st

from mamlviz import RunConfig, records

ROOT = Path(__file__).resolve().parents[1]

# Small enough to train twice and evaluate three models in a few seconds on 2 CPU cores.
TINY = dict(
    n_way=5,
    k_shot=1,
    k_query=2,
    inner_lr=0.4,
    outer_lr=0.005,
    inner_steps=1,
    eval_inner_steps=2,
    meta_batch=2,
    train_tasks=60,
    eval_tasks=20,
    seed=0,
    device="cpu",
    alignment_points=4,
    validation_points=3,
    validation_tasks=4,
)


def tiny_values(**changes) -> dict:
    """A study's values (field -> list) for TINY runs without alignment, with ``changes``."""
    values = {k: [v] for k, v in TINY.items()}
    values.update(alignment_points=[0], train_tasks=[10], eval_tasks=[10])
    values.update({k: v if isinstance(v, list) else [v] for k, v in changes.items()})
    return values


def tiny_cli(**changes) -> list[str]:
    """``compare`` flags for TINY (with ``changes``), named by the config table."""
    from mamlviz.config import BY_NAME

    return [a for k, v in {**TINY, **changes}.items() for a in (BY_NAME[k].cli_flag, str(v))]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One real tiny comparison, saved with its networks: (record path, record)."""
    from mamlviz import compare

    folder = tmp_path_factory.mktemp("tiny-run")
    record = compare(RunConfig(**TINY), label="tiny test run", params_dir=folder)
    return records.save(record, folder / f"{record['id']}.json"), record


@pytest.fixture(scope="session")
def tiny_record(tiny_run):
    """The tiny comparison's record, shared by the tests that only read one."""
    return tiny_run[1]


@pytest.fixture
def stop_event():
    return threading.Event()


@pytest.fixture
def fresh_server(tmp_path, monkeypatch):
    """st.cache_resource outlives AppTest instances: give every test its own registry and runs folder."""
    monkeypatch.setenv("MAMLVIZ_RUNS_DIR", str(tmp_path / "runs"))
    st.cache_resource.clear()
    yield tmp_path / "runs"
    from views import _state as common

    try:
        common.registry().shutdown()
    finally:
        st.cache_resource.clear()
