"""One entry point from a config to the arrays of a split (train / val / test)."""

from __future__ import annotations

import os
from pathlib import Path

from partnas_lib.config import Config
from partnas_lib.data.sample import SampleArrays


def default_cache_dir() -> Path:
    """``$PARTNAS_CACHE`` or ``~/.cache/partnas``: rendered synthetic splits are kept there."""
    return Path(os.environ.get("PARTNAS_CACHE", Path.home() / ".cache" / "partnas"))


def load_split(cfg: Config, split: str) -> SampleArrays:
    """The ``split`` ("train", "val" or "test") of the dataset named by ``cfg.data.dataset``."""
    d = cfg.data
    counts = {"train": d.num_train, "val": d.num_val, "test": d.num_test}
    if split not in counts:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(counts)}")
    if d.dataset == "synthetic":
        from partnas_lib.data.synthetic import load_synthetic_split

        cache = Path(d.cache_dir) if d.cache_dir else default_cache_dir()
        return load_synthetic_split(split, counts[split], d.seed, d.image_size, d.supersample,
                                    cache_dir=cache, progress=cfg.progress, pose_source=d.pose_source)
    raise ValueError(f"config field data.dataset = {d.dataset!r} is not supported; expected 'synthetic'")
