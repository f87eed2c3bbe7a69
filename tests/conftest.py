import threading
from pathlib import Path

import pytest

from mamlviz import RunConfig

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
)


@pytest.fixture(scope="session")
def tiny_record():
    """One real tiny comparison shared by the tests that only read a record."""
    from mamlviz import compare

    return compare(RunConfig(**TINY), label="tiny test run")


@pytest.fixture
def stop_event():
    return threading.Event()
