"""One entry point from a config to the arrays of a split (train / val / test).

Search, retraining, evaluation and RootNet training all load their data here, so this is where
data that cannot train or test an image model is refused: Human3.6M layouts without images
(VideoPose3D's, the original release's CDF poses) and any sample whose ``meta["has_image"]`` is
False would otherwise reach the network as all-black crops and still produce metrics
(docs/formats.md, "Human3.6M").

Human3.6M (docs/method.md Sec. 3): the subsets come from ``data.protocol``
(:mod:`partnas_lib.data.protocols`) or from ``data.train_subset`` / ``data.test_subset``.
``num_train`` / ``num_test`` cap a subset, evenly spread over it; 0 keeps all of it.  The
validation split is ``num_val`` samples of the *training* subjects, evenly spread over the
training subset and held out of training, never test subjects.  (Neighbouring frames of the same
takes stay in training, so validation errors are optimistic: for monitoring, not for reporting.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from partnas_lib.config import Config
from partnas_lib.data.datasets.h36m import IMAGELESS_LAYOUTS, detect_h36m_layout, load_h36m
from partnas_lib.data.datasets.mpii import load_mpii
from partnas_lib.data.protocols import h36m_subsets
from partnas_lib.data.sample import SampleArrays, concat_arrays
from partnas_lib.data.synth.synthetic import load_synthetic_split
from partnas_lib.io import default_cache_dir

SPLITS: tuple[str, ...] = ("train", "val", "test")


def load_split(cfg: Config, split: str) -> SampleArrays:
    """The ``split`` ("train", "val" or "test") of the dataset named by ``cfg.data.dataset``.

    Raises ``ValueError`` naming the folder when the samples carry no images.
    """
    d = cfg.data
    counts = {"train": d.num_train, "val": d.num_val, "test": d.num_test}
    if split not in counts:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(counts)}")
    if d.dataset == "synthetic":
        cache = Path(d.cache_dir) if d.cache_dir else default_cache_dir()
        return load_synthetic_split(split, counts[split], d.seed, d.image_size, d.supersample,
                                    cache_dir=cache, progress=cfg.progress, pose_source=d.pose_source)
    if d.dataset == "h36m":
        arrays = _load_h36m_split(cfg, split)
        require_images(arrays, f"{d.root} (data.root, split {split!r})")
        return arrays
    raise ValueError(f"config field data.dataset = {d.dataset!r} is not supported; expected 'synthetic' or 'h36m'")


def require_images(arrays: SampleArrays, where: str) -> None:
    """Refuse samples without an image (``meta["has_image"] is False``): a network trained or
    evaluated on their black crops learns nothing and its metrics mean nothing."""
    missing = [i for i, m in enumerate(arrays.meta) if m.get("has_image") is False]
    if missing:
        first = arrays.meta[missing[0]]
        what = ", ".join(f"{k}={first[k]}" for k in ("source", "layout", "subject", "action", "frame") if k in first)
        raise ValueError(f"{where}: {len(missing)} of {len(arrays)} samples have no image (first: {what}); "
                         "search, retrain, evaluate and RootNet need real crops.  Human3.6M: use the 3DMPPE "
                         "layout (data_scripts/prepare_h36m.py makes it from the original release)")


def check_h36m_has_images(root: str | Path, layout: str | None) -> str:
    """The layout of ``root``; ``ValueError`` naming the folder, the layout and the conversion
    when it has no images.  Cheap: runs before anything is loaded."""
    layout = layout or detect_h36m_layout(root)
    if layout in IMAGELESS_LAYOUTS:
        how = IMAGELESS_LAYOUTS[layout].format(root=root)
        raise ValueError(f"{root}: Human3.6M layout {layout!r} has no images: {how}; then "
                         "--set data.root=DIR.  Without images search, retrain, evaluate and RootNet would run "
                         "on all-black crops (layouts without images serve 'partnas data check' only; "
                         "docs/formats.md)")
    return layout


def _load_h36m_split(cfg: Config, split: str) -> SampleArrays:
    """Human3.6M subsets (see the module docstring); with ``data.mpii_root`` the training split
    also holds MPII 2D samples (``has_3d=False``)."""
    d = cfg.data
    train_subset, test_subset = h36m_subsets(d)
    layout = check_h36m_has_images(d.root, d.layout or None)
    load = dict(image_size=d.image_size, progress=cfg.progress)
    if split == "test":
        return _cap(load_h36m(d.root, layout, test_subset, **load), d.num_test)
    subset = load_h36m(d.root, layout, train_subset, **load)
    train, val = hold_out(subset, d.num_val, train_subset)
    if split == "val":
        return val
    train = _cap(train, d.num_train)
    if d.mpii_root:
        train = concat_arrays(train, load_mpii(d.mpii_root, "train", **load))
    return train


def hold_out(arrays: SampleArrays, num_val: int, name: str) -> tuple[SampleArrays, SampleArrays]:
    """``(rest, held out)``: ``num_val`` samples evenly spread over ``arrays`` (so over its
    subjects, actions and cameras, which the loaders sort by) and the others, disjoint."""
    n = len(arrays)
    if num_val > n // 2:
        raise ValueError(f"config field data.num_val = {num_val} is too large: the training subset {name} holds "
                         f"{n} samples and at most half of them can be held out for validation (0 = none)")
    held = np.linspace(0, n - 1, num_val).round().astype(int) if num_val else np.zeros(0, int)
    keep = np.ones(n, bool)
    keep[held] = False
    return arrays.subset(np.flatnonzero(keep)), arrays.subset(held)


def _cap(arrays: SampleArrays, cap: int) -> SampleArrays:
    """At most ``cap`` samples evenly spread over ``arrays``; 0 = all."""
    if 0 < cap < len(arrays):
        return arrays.subset(np.linspace(0, len(arrays) - 1, cap).round().astype(int))
    return arrays


__all__ = ["SPLITS", "check_h36m_has_images", "hold_out", "load_split", "require_images"]
