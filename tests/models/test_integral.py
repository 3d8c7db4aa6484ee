"""The integral read-out: soft-argmax, the volume geometry and the integral L1 loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from partnas_lib.models.integral import VolumeGeometry, integral_l1_loss, soft_argmax_3d


def test_soft_argmax_recovers_a_peak_to_sub_voxel_accuracy():
    d, h, w = 16, 20, 24
    zz, yy, xx = torch.meshgrid(torch.arange(d), torch.arange(h), torch.arange(w), indexing="ij")
    for true in [(5.3, 11.7, 7.25), (20.6, 3.5, 10.4)]:
        x0, y0, z0 = true
        dist2 = (xx - x0) ** 2 + (yy - y0) ** 2 + (zz - z0) ** 2
        logits = -dist2.float() * 2.0  # a sharp Gaussian bump (log domain)
        est = soft_argmax_3d(logits[None, None])[0, 0]
        np.testing.assert_allclose(est.numpy(), true, atol=0.05)


def test_soft_argmax_of_uniform_volume_is_the_centre():
    est = soft_argmax_3d(torch.zeros(1, 2, 8, 10, 12))
    np.testing.assert_allclose(est[0, 0].numpy(), [5.5, 4.5, 3.5], atol=1e-5)


def test_geometry_encode_decode_round_trip():
    geo = VolumeGeometry(image_size=64, stride=4, depth_bins=16, cube_mm=2000)
    rng = np.random.default_rng(0)
    j3 = rng.uniform([-600, -900, 4000], [600, 900, 5000], size=(3, 17, 3))
    intr = np.array([[1145.0, 1144.0, 512.0, 515.0]] * 3)
    uv = j3[..., :2] / j3[..., 2:] * intr[:, None, :2] + intr[:, None, 2:]
    bbox = np.array([[uv[i, :, 0].min() - 20, uv[i, :, 1].min() - 20, 300, 300] for i in range(3)])
    target = geo.encode(uv, j3, bbox).numpy()
    back = geo.decode(target, bbox, intr, j3[:, 0, 2])
    np.testing.assert_allclose(back, j3, atol=1e-2)


def test_integral_loss_masks_depth_of_2d_samples():
    pred = torch.zeros(2, 17, 3)
    target = torch.zeros(2, 17, 3)
    target[:, :, 2] = 4.0  # depth error only
    vis = torch.ones(2, 17, dtype=torch.bool)
    assert integral_l1_loss(pred, target, vis, torch.tensor([False, False])) == 0
    assert integral_l1_loss(pred, target, vis, torch.tensor([True, True])) == pytest.approx(4.0 / 3)
