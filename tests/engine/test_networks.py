"""A run's saved networks are trusted only once every tensor is what the record's config implies (issue 20)."""

import hashlib
import json
import os
import shutil
import time

import pytest
import torch
from safetensors.torch import save

from mamlviz.engine import explore, model


@pytest.fixture
def copied(tiny_run, tmp_path):
    """The tiny run's record and networks, copied to a folder of the test's own: (record path, record, params)."""
    path, record = tiny_run
    record = json.loads(json.dumps(record))
    shutil.copy(path, tmp_path / path.name)
    shutil.copy(path.parent / record["params_file"]["file"], tmp_path / record["params_file"]["file"])
    return tmp_path / path.name, record, explore.load_params(path, record)


def _replace(record_path, record, tensors: dict, models=None):
    """Replace the networks file and update the record's sha256 and size, as a hostile file would."""
    data = save(tensors)
    name = record["params_file"]["file"]
    (record_path.parent / name).write_bytes(data)
    record["params_file"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    if models is not None:
        record["params_file"]["models"] = models
    return record


def _flat(params):
    return {f"{m}/{k}": v.contiguous() for m, p in params.items() for k, v in p.items()}


@pytest.mark.parametrize(
    "change,words",
    [
        (
            lambda f: {**f, "maml/conv0.weight": f["maml/conv0.weight"][:32]},
            "maml/conv0.weight has shape (32, 1, 3, 3)",
        ),
        (lambda f: {**f, "maml/head.weight": f["maml/head.weight"].t().contiguous()}, "maml/head.weight has shape"),
        (lambda f: {**f, "fomaml/bn0.bias": f["fomaml/bn0.bias"].double()}, "fomaml/bn0.bias is float64"),
        (lambda f: {**f, "init/bn1.weight": f["init/bn1.weight"].half()}, "init/bn1.weight is float16"),
        (lambda f: {**f, "maml/head.bias": (f["maml/head.bias"] * 0).to(torch.int8)}, "maml/head.bias is int8"),
        (lambda f: {**f, "maml/conv1.bias": f["maml/conv1.bias"] * float("nan")}, "maml/conv1.bias holds values"),
        (lambda f: {k: v for k, v in f.items() if k != "fomaml/conv3.weight"}, "fomaml/conv3.weight is missing"),
        (lambda f: {**f, "maml/extra": torch.zeros(3)}, "a tensor the record does not name: maml/extra"),
    ],
    ids=["shape", "transposed", "float64", "float16", "int8", "nan", "missing", "extra"],
)
def test_every_tensor_is_checked_against_the_config_and_named(copied, change, words):
    record_path, record, params = copied
    record = _replace(record_path, record, change(_flat(params)))
    with pytest.raises(explore.ParamsError, match=words.replace("(", r"\(").replace(")", r"\)")):
        explore.load_params(record_path, record)


def test_networks_of_another_n_way_an_empty_list_or_no_initialisation_are_refused(copied):
    record_path, record, params = copied
    other = {m: model.init_params(7, 0) for m in params}  # a 7-way head where the run is 5-way
    with pytest.raises(explore.ParamsError, match=r"head.weight has shape \(7, 64\), expected \(5, 64\)"):
        explore.load_params(record_path, _replace(record_path, json.loads(json.dumps(record)), _flat(other)))
    for models, words in (([], "must hold the initialisation"), (["maml", "fomaml"], "must hold the initialisation")):
        bad = json.loads(json.dumps(record))
        with pytest.raises(explore.ParamsError, match=words):
            explore.load_params(record_path, _replace(record_path, bad, _flat(params), models=models))
    bad = json.loads(json.dumps(record))
    with pytest.raises(explore.ParamsError, match="did not train: reptile"):
        flat = {**_flat(params), **{f"reptile/{k}": v.clone() for k, v in params["maml"].items()}}
        explore.load_params(record_path, _replace(record_path, bad, flat, models=["init", "maml", "reptile"]))


def test_a_file_of_the_wrong_size_is_refused_before_it_is_hashed(copied):
    record_path, record, _ = copied
    big = record_path.parent / record["params_file"]["file"]
    big.unlink()
    with open(big, "wb") as f:  # a 32 GiB sparse file: hashing it would take a minute
        f.truncate(32 * 2**30)
    t0 = time.perf_counter()
    with pytest.raises(explore.ParamsError, match="has 34,359,738,368 bytes; the record says"):
        explore.load_params(record_path, record)
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_fifo_or_a_folder_is_said_to_be_what_it_is(copied, kind):
    record_path, record, _ = copied
    target = record_path.parent / record["params_file"]["file"]
    target.unlink()
    os.mkfifo(target) if kind == "fifo" else target.mkdir()
    with pytest.raises(explore.ParamsError, match="not a regular file"):
        explore.load_params(record_path, record)
