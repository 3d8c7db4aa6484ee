"""One entry point from a config to the arrays of a split (train / val / test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from partnas_lib.config import Config
from partnas_lib.data.datasets.h36m import load_h36m
from partnas_lib.data.datasets.mpii import load_mpii
from partnas_lib.data.sample import SampleArrays, concat_arrays
from partnas_lib.data.synth.synthetic import load_synthetic_split
from partnas_lib.io import default_cache_dir


def load_split(cfg: Config, split: str) -> SampleArrays:
    """The ``split`` ("train", "val" or "test") of the dataset named by ``cfg.data.dataset``."""
    d = cfg.data
    counts = {"train": d.num_train, "val": d.num_val, "test": d.num_test}
    if split not in counts:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(counts)}")
    if d.dataset == "synthetic":
        cache = Path(d.cache_dir) if d.cache_dir else default_cache_dir()
        return load_synthetic_split(split, counts[split], d.seed, d.image_size, d.supersample,
                                    cache_dir=cache, progress=cfg.progress, pose_source=d.pose_source)
    if d.dataset == "h36m":
        return _load_h36m_split(cfg, split)
    raise ValueError(f"config field data.dataset = {d.dataset!r} is not supported; expected 'synthetic' or 'h36m'")


def _load_h36m_split(cfg: Config, split: str) -> SampleArrays:
    """Human3.6M protocol subsets; val is the first ``num_val`` test samples (monitoring only).

    ``num_train`` / ``num_test`` cap the number of samples (more than available = all),
    evenly spread over the subset.  With ``data.mpii_root`` the training split also holds MPII
    2D samples (``has_3d=False``).
    """
    d = cfg.data
    subset = d.train_subset if split == "train" else d.test_subset
    arrays = load_h36m(d.root, d.layout or None, subset, image_size=d.image_size, progress=cfg.progress)
    cap = {"train": d.num_train, "val": d.num_val, "test": d.num_test}[split]
    if 0 < cap < len(arrays):
        arrays = arrays.subset(np.linspace(0, len(arrays) - 1, cap).round().astype(int))
    if split == "train" and d.mpii_root:
        arrays = concat_arrays(arrays, load_mpii(d.mpii_root, "train", image_size=d.image_size, progress=cfg.progress))
    return arrays


__all__ = ["load_split"]
