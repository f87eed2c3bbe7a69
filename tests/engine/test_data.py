import numpy as np
import pytest
import torch
from conftest import ROOT

from mamlviz import omniglot
from mamlviz.engine.tasks import TaskSampler, class_images

SHARED = ROOT.parent / "shared" / "data" / "omniglot"


def test_shipped_array_loads_with_checked_sha256():
    data = omniglot.load()
    assert data.images.shape == (1623, 20, 28, 28) and data.images.dtype == np.uint8
    assert len(set(data.alphabets)) == 50
    assert (data.splits == "images_background").sum() == 964
    # ink is 255, background 0: most pixels are background
    assert 0.02 < (data.images > 127).mean() < 0.3


def test_load_rejects_a_corrupted_file(tmp_path):
    bad = tmp_path / "o.npz"
    bad.write_bytes(omniglot.SHIPPED.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ValueError, match="sha256"):
        omniglot.load(bad, expected_sha256=omniglot.SHIPPED_SHA256)


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"original Omniglot zips not present at {SHARED}")
def test_rebuild_from_original_zips_reproduces_the_shipped_file(tmp_path):
    data = omniglot.build(SHARED)
    shipped = omniglot.load()
    assert np.array_equal(data.images, shipped.images)
    assert list(data.alphabets) == list(shipped.alphabets)
    assert omniglot.save(data, tmp_path / "o.npz") == omniglot.SHIPPED_SHA256  # byte-identical


def test_build_refuses_an_incomplete_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="images_background"):
        omniglot.build(tmp_path)


def test_split_is_1200_423_disjoint_and_fixed():
    train, test = omniglot.split_characters(0)
    assert len(train) == 1200 and len(test) == 423
    assert not set(train) & set(test)
    assert np.array_equal(train, omniglot.split_characters(0)[0])
    assert not np.array_equal(train, omniglot.split_characters(1)[0])


def test_rotations_are_extra_classes():
    data = omniglot.load()
    imgs = class_images(data, np.array([5, 9]), "cpu")
    assert imgs.shape == (8, 20, 28, 28)
    assert torch.equal(imgs[1], torch.rot90(torch.from_numpy(data.images[5]), 1, dims=(-2, -1)))
    assert torch.equal(imgs[4], torch.from_numpy(data.images[9]))


def test_task_sampler_shapes_labels_and_distinct_classes():
    images = torch.arange(30, dtype=torch.uint8)[:, None, None, None].expand(30, 20, 28, 28).contiguous()
    s = TaskSampler(images, n_way=5, k_shot=2, k_query=3, seed=0)
    b = s.sample(7)
    assert b.xs.shape == (7, 10, 1, 28, 28) and b.xq.shape == (7, 15, 1, 28, 28)
    assert b.ys[0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    # each class's images carry their class id as pixel value: the 5 classes of a task differ
    cls = (b.xs[:, ::2, 0, 0, 0] * 255).round()
    assert all(len(set(row.tolist())) == 5 for row in cls)
    # support and query of one label come from the same class
    assert torch.equal((b.xq[:, ::3, 0, 0, 0] * 255).round(), cls)


def test_same_seed_same_task_stream():
    data = omniglot.load()
    imgs = class_images(data, omniglot.split_characters()[0][:50], "cpu")
    a, b = TaskSampler(imgs, 5, 1, 2, seed=3), TaskSampler(imgs, 5, 1, 2, seed=3)
    for _ in range(2):
        x, y = a.sample(4), b.sample(4)
        assert torch.equal(x.xs, y.xs) and torch.equal(x.xq, y.xq)
    assert not torch.equal(TaskSampler(imgs, 5, 1, 2, seed=4).sample(4).xs, TaskSampler(imgs, 5, 1, 2, 3).sample(4).xs)
