"""Augmentations move image and target together."""

from __future__ import annotations

import torch

from partnas_lib.data.transforms import AugmentConfig, augment_batch
from partnas_lib.skeleton import FLIP_PAIRS


def _dot_batch(b: int = 4, s: int = 64, stride: int = 4):
    """Images with one bright pixel per joint-0 location; target voxel coords of that pixel."""
    g = torch.Generator().manual_seed(0)
    images = torch.zeros(b, 3, s, s)
    target = torch.rand(b, 17, 3, generator=g) * 8 + 4  # well inside a 16-wide volume
    for i in range(b):
        u, v = ((target[i, 0, :2] + 0.5) * stride).long().tolist()
        images[i, :, v - 1:v + 2, u - 1:u + 2] = 1.0
    return images, target, torch.ones(b, 17, dtype=torch.bool)


def _bright_centre(img: torch.Tensor, stride: int = 4) -> torch.Tensor:
    w = img[0]
    ys, xs = torch.meshgrid(torch.arange(w.shape[0]), torch.arange(w.shape[1]), indexing="ij")
    m = w / w.sum()
    return torch.stack([(m * (xs + 0.5)).sum(), (m * (ys + 0.5)).sum()]) / stride - 0.5


def test_scale_rotation_move_pixels_and_targets_together():
    images, target, vis = _dot_batch()
    cfg = AugmentConfig(flip=False, scale=0.25, rotation_deg=30, rotation_prob=1.0, color=0, occlusion_prob=0)
    out, t2, v2 = augment_batch(images, target, vis, 16, torch.Generator().manual_seed(1), cfg)
    for i in range(len(images)):
        assert torch.allclose(_bright_centre(out[i]), t2[i, 0, :2], atol=0.3)
    assert torch.equal(t2[..., 2], target[..., 2])  # depth is untouched
    assert not torch.equal(t2[..., :2], target[..., :2])


def test_flip_mirrors_x_and_swaps_left_right():
    images, target, vis = _dot_batch(b=64)
    cfg = AugmentConfig(flip=True, scale=0, rotation_deg=0, color=0, occlusion_prob=0)
    out, t2, _ = augment_batch(images, target, vis, 16, torch.Generator().manual_seed(2), cfg)
    flipped = [i for i in range(64) if not torch.equal(out[i], images[i])]
    assert 10 < len(flipped) < 54
    for i in flipped:
        for a, b in FLIP_PAIRS:
            assert torch.allclose(t2[i, a, 0], 15 - target[i, b, 0])
            assert torch.allclose(t2[i, a, 1:], target[i, b, 1:])
        assert torch.allclose(_bright_centre(out[i]), t2[i, 0, :2], atol=0.3)


def test_colour_and_occlusion_change_pixels_only():
    images = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    target = torch.rand(8, 17, 3) * 6
    vis = torch.ones(8, 17, dtype=torch.bool)
    cfg = AugmentConfig(flip=False, scale=0, rotation_deg=0, color=0.2, occlusion_prob=1.0)
    out, t2, v2 = augment_batch(images, target, vis, 8, torch.Generator().manual_seed(4), cfg)
    assert torch.equal(t2, target) and torch.equal(v2, vis)
    assert out.min() >= 0 and out.max() <= 1 and not torch.equal(out, images)


def test_joints_pushed_outside_lose_visibility():
    images, target, vis = _dot_batch()
    target[:, 5, :2] = 15.0  # at the corner: a 25 % zoom pushes it out
    cfg = AugmentConfig(flip=False, scale=0.0, rotation_deg=45, rotation_prob=1.0, color=0, occlusion_prob=0)
    _, t2, v2 = augment_batch(images, target, vis, 16, torch.Generator().manual_seed(5), cfg)
    outside = ((t2[..., :2] < 0) | (t2[..., :2] > 15)).any(-1)
    assert outside.any() and torch.equal(v2, vis & ~outside)


def test_same_generator_same_augmentation():
    images, target, vis = _dot_batch()
    a = augment_batch(images, target, vis, 16, torch.Generator().manual_seed(7))
    b = augment_batch(images, target, vis, 16, torch.Generator().manual_seed(7))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
