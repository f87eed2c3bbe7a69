"""Issue 23: the original 105x105 images as a config field: data built once and sha256-checked, the network's
head following the image size, the engine exact at 105, and a 105x105 run from the CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import ROOT, TINY, tiny_cli

from mamlviz import RunConfig, omniglot
from mamlviz.engine import meta, model

SHARED = ROOT.parent / "shared" / "data" / "omniglot"
needs_originals = pytest.mark.skipif(
    not (SHARED.is_dir() or omniglot.is_ready(105)), reason=f"no original Omniglot images at {SHARED} and no cache"
)


def test_the_head_follows_the_image_size_and_28_stays_as_it_was():
    assert model.features(28) == 64 and model.features(105) == 64 * 6 * 6
    p = model.init_params(5, 0, image_size=105)
    assert p["head.weight"].shape == (5, 2304)
    assert model.forward(p, torch.rand(3, 1, 105, 105)).shape == (3, 5)
    old, new = model.init_params(5, 3), model.init_params(5, 3, image_size=28)  # the same draws as before v5
    assert all(torch.equal(old[k], new[k]) for k in old)
    with pytest.raises(ValueError, match="image_size"):
        RunConfig(image_size=64)


def test_at_105_every_path_gives_the_same_exact_meta_gradient():
    g = torch.Generator().manual_seed(0)
    params = model.init_params(3, seed=1, image_size=105, dtype=torch.float64)
    xs, xq = (torch.rand(2, n, 1, 105, 105, generator=g, dtype=torch.float64) for n in (3, 3))
    ys = yq = torch.arange(3).repeat(2, 1)
    kw = dict(inner_lr=0.1, inner_steps=2, algorithm="maml")
    loop = meta.meta_gradient(params, xs, ys, xq, yq, path="loop", **kw)[0]
    for path in ("tasks", "vmap"):
        other = meta.meta_gradient(params, xs, ys, xq, yq, path=path, **kw)[0]
        for k in (k for k in loop if not (k.startswith("conv") and k.endswith("bias"))):  # before batch norm: ~0
            err = ((other[k] - loop[k]).norm() / loop[k].norm()).item()
            assert err < 1e-10, (path, k, err)


@needs_originals
def test_the_105_array_is_built_from_the_originals_once_checked_and_a_corrupt_cache_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(omniglot.CACHE_ENV, str(tmp_path))
    if not SHARED.is_dir():
        pytest.skip("the originals are needed to build")
    path = omniglot.build_cache(105, SHARED)
    assert path == tmp_path / "omniglot105.npz" and omniglot.is_ready(105)
    data = omniglot.load_size(105)
    assert data.images.shape == (1623, 20, 105, 105) and set(np.unique(data.images[:20])) <= {0, 255}
    small = omniglot.load()
    assert list(data.alphabets) == list(small.alphabets)  # the same characters in the same order as at 28
    broken = bytearray(path.read_bytes())
    broken[-100] ^= 0xFF
    path.write_bytes(bytes(broken))
    with pytest.raises(ValueError, match=r"sha256.*Delete .*omniglot105\.npz.*rebuild"):
        omniglot.load_size(105)


def test_without_the_originals_the_message_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv(omniglot.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(omniglot, "sources", lambda: [tmp_path / "nothing"])

    def offline(root):
        raise OSError("no network")

    monkeypatch.setattr(omniglot, "download", offline)
    with pytest.raises(FileNotFoundError, match=r"image_size: 105x105 needs the original.*data build --size 105"):
        omniglot.load_size(105)
    assert not (tmp_path / "cache" / "omniglot105.npz").exists()


def test_a_folder_of_other_images_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(omniglot.CACHE_ENV, str(tmp_path / "cache"))
    fake = omniglot.Omniglot(
        np.zeros((1623, 20, 105, 105), np.uint8), np.array(["a"] * 1623), np.array(["c"] * 1623), np.array(["s"] * 1623)
    )
    monkeypatch.setattr(omniglot, "build", lambda source, size: fake)
    with pytest.raises(ValueError, match="not the original Omniglot images"):
        omniglot.build_cache(105, tmp_path)
    assert not (tmp_path / "cache" / "omniglot105.npz").exists()


@needs_originals
def test_a_105_run_from_the_cli_says_its_estimate_and_records_its_image_size(tmp_path):
    out = tmp_path / "r.json"
    args = tiny_cli(image_size=105, train_tasks=4, k_query=1, eval_tasks=10, alignment_points=0)
    env = {**os.environ, "MAMLVIZ_RUNS_DIR": str(tmp_path / "runs")}
    r = subprocess.run(
        [sys.executable, "-m", "mamlviz", "compare", *args, "--quiet", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "time estimate" in r.stdout or r.stdout.startswith("About")  # said before training, either way
    record = json.loads(out.read_text())
    assert record["config"]["image_size"] == 105 and "105x105" in record["protocol"]["dataset"]
    assert record["setup"]["params"] == sum(  # the head takes 2304 features
        np.prod(v.shape) for v in model.init_params(TINY["n_way"], image_size=105).values()
    )
    maml = record["results"]["maml"]
    assert maml["validation"]["iteration"][0] == 0 and maml["validation"]["iteration"][-1] == maml["iterations_done"]
