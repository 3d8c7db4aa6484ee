"""Synthetic samples: Sample-compatible arrays, exact projection, determinism, caching; a damaged or
wrong-shaped file is named (and a damaged cache rendered again)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import run_cli

from partnas_lib.config import get_preset
from partnas_lib.data.batches import make_batch
from partnas_lib.data.sample import SampleArrays
from partnas_lib.data.synth.actions import ACTIONS
from partnas_lib.data.synth.synthetic import (
    SPLIT_OFFSETS,
    cache_path,
    generate_synthetic,
    load_arrays,
    load_synthetic_split,
    save_arrays,
    split_seed,
)

_FIELDS = ("images", "joints_2d", "joints_3d", "joints_vis", "root_depth", "intrinsics", "bbox", "has_3d")


def _assert_same(a: SampleArrays, b: SampleArrays) -> None:
    for name in _FIELDS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.meta == b.meta


@pytest.fixture(scope="module")
def arrays() -> SampleArrays:
    return generate_synthetic(seed=11, start=0, count=6, image_size=32)


def test_fields_shapes_and_dtypes(arrays):
    n = 6
    assert arrays.images.shape == (n, 32, 32, 3) and arrays.images.dtype == np.uint8
    assert arrays.joints_2d.shape == (n, 17, 2) and arrays.joints_2d.dtype == np.float32
    assert arrays.joints_3d.shape == (n, 17, 3) and arrays.joints_3d.dtype == np.float32
    assert arrays.joints_vis.shape == (n, 17) and arrays.joints_vis.dtype == bool and arrays.joints_vis.all()
    assert arrays.root_depth.shape == (n,) and arrays.root_depth.dtype == np.float32
    assert arrays.intrinsics.shape == (n, 4) and arrays.intrinsics.dtype == np.float32
    assert arrays.bbox.shape == (n, 4) and arrays.bbox.dtype == np.float32
    assert arrays.has_3d.dtype == bool and arrays.has_3d.all()
    for i in range(n):
        arrays.sample(i).validate(f"synthetic sample {i}")
    batch = make_batch(arrays, np.array([0]), torch.device("cpu"))
    assert batch["image"].shape == (1, 3, 32, 32)


def test_meta_and_root_depth(arrays):
    np.testing.assert_array_equal(arrays.root_depth, arrays.joints_3d[:, 0, 2])
    assert np.all((arrays.root_depth > 2500) & (arrays.root_depth < 8000))  # Human3.6M-like depths
    for i, m in enumerate(arrays.meta):
        assert m["subject"] == f"synthetic-11-{i}" and m["frame"] == i and m["source"] == "synthetic"
        assert m["action"] in ACTIONS and m["camera"] in ("54138969", "55011271", "58860488", "60457274")


def test_joints_2d_are_the_projection_of_joints_3d(arrays):
    fx, fy, cx, cy = (arrays.intrinsics[:, None, i].astype(np.float64) for i in range(4))
    X = arrays.joints_3d.astype(np.float64)
    u = fx * X[..., 0] / X[..., 2] + cx
    v = fy * X[..., 1] / X[..., 2] + cy
    np.testing.assert_allclose(arrays.joints_2d[..., 0], u, atol=0.01)
    np.testing.assert_allclose(arrays.joints_2d[..., 1], v, atol=0.01)


def test_bbox_is_square_and_contains_the_joints(arrays):
    x, y, w, h = arrays.bbox.T
    np.testing.assert_allclose(w, h, rtol=1e-5)
    assert np.all(arrays.joints_2d[..., 0] > x[:, None]) and np.all(arrays.joints_2d[..., 0] < (x + w)[:, None])
    assert np.all(arrays.joints_2d[..., 1] > y[:, None]) and np.all(arrays.joints_2d[..., 1] < (y + h)[:, None])


def test_same_sample_whatever_the_chunking(arrays):
    first = generate_synthetic(11, 0, 2, 32, batch_size=1)
    rest = generate_synthetic(11, 2, 4, 32, batch_size=3)
    _assert_same(arrays.subset(slice(0, 2)), first)
    _assert_same(arrays.subset(slice(2, 6)), rest)


def test_splits_get_disjoint_seeds_and_different_data():
    seeds = [split_seed(b, s) for b in range(50) for s in SPLIT_OFFSETS]
    assert len(set(seeds)) == len(seeds)
    train = load_synthetic_split("train", 3, 0, 32, progress=False)
    val = load_synthetic_split("val", 3, 0, 32, progress=False)
    assert not np.array_equal(train.images, val.images)
    assert not np.allclose(train.joints_3d, val.joints_3d)
    with pytest.raises(ValueError, match="unknown split"):
        split_seed(0, "holdout")


def test_cache_round_trip(tmp_path):
    fresh = load_synthetic_split("test", 3, 2, 32, cache_dir=tmp_path, progress=False)
    path = cache_path(tmp_path, "test", 3, 2, 32, 2)
    assert path.exists()
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left behind
    cached = load_synthetic_split("test", 3, 2, 32, cache_dir=tmp_path, progress=False)
    _assert_same(fresh, cached)
    # A different request is a different file.
    assert cache_path(tmp_path, "test", 3, 2, 48, 2) != path


def test_corrupt_cache_is_regenerated_with_a_warning(tmp_path):
    path = cache_path(tmp_path, "val", 2, 0, 32, 2)
    path.write_bytes(b"not an npz file")
    with pytest.warns(UserWarning, match="unreadable"):
        arrays = load_synthetic_split("val", 2, 0, 32, cache_dir=tmp_path, progress=False)
    _assert_same(arrays, load_synthetic_split("val", 2, 0, 32, cache_dir=None, progress=False))
    _assert_same(arrays, load_synthetic_split("val", 2, 0, 32, cache_dir=tmp_path, progress=False))


def _tiny_arrays(cache_dir: Path):
    cfg = get_preset("smoke")
    return load_synthetic_split("test", 4, cfg.data.seed, 64, 1, cache_dir=cache_dir, progress=False)


@pytest.mark.parametrize("field,bad,message", [
    ("joints_3d", lambda a: a[:, :16], "array 'joints_3d' has shape (4, 16, 3), expected (4, 17, 3)"),
    ("joints_2d", lambda a: a[..., :1], "array 'joints_2d' has shape (4, 17, 1), expected (4, 17, 2)"),
    ("bbox", lambda a: a[:3], "array 'bbox' has shape (3, 4), expected (4, 4)"),
    ("images", lambda a: a[..., :1], "array 'images' has shape (4, 64, 64, 1) uint8, expected (N, S, S, 3) uint8"),
])
def test_synthetic_npz_with_wrong_shapes(field, bad, message, tmp_path, capsys, cache_dir):
    arrays = _tiny_arrays(cache_dir)
    setattr(arrays, field, bad(getattr(arrays, field)))
    path = tmp_path / "synthetic-bad.npz"
    save_arrays(arrays, path)
    with pytest.raises(ValueError) as err:
        load_arrays(path)
    assert str(path) in str(err.value) and message in str(err.value)
    code, err_text = run_cli(["data", "check", "--dataset", "synthetic", "--root", str(path)], capsys)
    assert code == 2 and str(path) in err_text and message in err_text


def test_damaged_synthetic_cache_is_named_and_rendered_again(tmp_path, cache_dir):
    arrays = _tiny_arrays(tmp_path)  # renders into tmp_path
    (path,) = tmp_path.glob("synthetic-*.npz")
    arrays.joints_3d = arrays.joints_3d[:, :16]
    save_arrays(arrays, path)
    cfg = get_preset("smoke")
    with pytest.warns(UserWarning, match=rf"synthetic cache {path} is unreadable .*array 'joints_3d' has shape"):
        again = load_synthetic_split("test", 4, cfg.data.seed, 64, 1, cache_dir=tmp_path, progress=False)
    assert again.joints_3d.shape == (4, 17, 3)
    assert load_arrays(path).joints_3d.shape == (4, 17, 3)  # the cache was rewritten
