"""Batches from the arrays of a split: a reproducible epoch order, slicing, and iteration.

Determinism (docs/architecture.md, "Conventions"): the order of samples in epoch ``e`` is a
permutation drawn from a generator seeded by ``(seed, e)``, so a run resumed at any step (the
checkpoint records the epoch and the step within it) sees exactly the batches the uninterrupted
run would have seen.  Under ``torchrun`` every process takes its share of that permutation.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from partnas_lib.data.sample import SampleArrays


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    if not shuffle:
        return np.arange(n)
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).numpy()


def make_batch(arrays: SampleArrays, idx: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
    """Slice ``arrays`` at ``idx`` into tensors; images become float ``(B, 3, S, S)`` in [0, 1]."""
    images = torch.from_numpy(arrays.images[idx]).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    return {
        "image": images.contiguous(),
        "joints_2d": torch.from_numpy(arrays.joints_2d[idx]),
        "joints_3d": torch.from_numpy(arrays.joints_3d[idx]),
        "joints_vis": torch.from_numpy(arrays.joints_vis[idx]),
        "has_3d": torch.from_numpy(arrays.has_3d[idx]),
        "bbox": torch.from_numpy(arrays.bbox[idx]),
        "index": torch.from_numpy(np.asarray(idx)),
    }


def iterate_batches(arrays: SampleArrays, order: np.ndarray, batch_size: int, device: torch.device,
                    drop_last: bool = True) -> Iterator[dict[str, torch.Tensor]]:
    stop = len(order) - (len(order) % batch_size if drop_last else 0)
    for start in range(0, stop, batch_size):
        yield make_batch(arrays, order[start:start + batch_size], device)


def num_batches(n: int, batch_size: int, drop_last: bool = True) -> int:
    return n // batch_size if drop_last else -(-n // batch_size)
