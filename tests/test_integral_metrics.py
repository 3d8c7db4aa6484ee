import numpy as np
import pytest
import torch

from partnas_lib.eval.metrics import mpjpe, pa_mpjpe, procrustes_align, summarize
from partnas_lib.models.integral import VolumeGeometry, integral_l1_loss, soft_argmax_3d
from partnas_lib.skeleton import get_grouping


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


def _pose(seed=0):
    return np.random.default_rng(seed).normal(scale=300, size=(1, 17, 3))


def test_mpjpe_hand_computed():
    gt = np.zeros((1, 17, 3))
    pred = np.zeros((1, 17, 3))
    pred[0, 5] = [30, 40, 0]  # one joint off by 50 mm
    assert mpjpe(pred, gt) == pytest.approx(50 / 17)
    # a global translation is removed by root alignment
    assert mpjpe(gt + 123.0, gt) == pytest.approx(0)


def test_pa_mpjpe_ignores_similarity_transforms():
    gt = _pose()
    angle = 0.7
    r = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    pred = 1.7 * gt @ r.T + np.array([100.0, -50, 3000])
    assert pa_mpjpe(pred, gt) == pytest.approx(0, abs=1e-6)
    assert mpjpe(pred, gt) > 100


def test_pa_mpjpe_does_not_allow_reflections():
    gt = _pose(1)
    mirrored = gt * np.array([-1, 1, 1])
    aligned = procrustes_align(mirrored, gt)
    centred = mirrored[0] - mirrored[0].mean(0), aligned[0] - aligned[0].mean(0)
    r_det = np.linalg.det(np.linalg.lstsq(*centred, rcond=None)[0])
    assert r_det > 0
    assert pa_mpjpe(mirrored, gt) > 1.0


def test_pa_mpjpe_hand_computed_for_pure_noise_on_one_axis():
    # 2 symmetric points: the best similarity maps pred exactly; PA error is 0
    gt = np.array([[[0, 0, 0.0], [10, 0, 0]] + [[0, 0, 0.0]] * 15])
    assert pa_mpjpe(gt * 3, gt) == pytest.approx(0, abs=1e-9)


def test_summary_per_part_and_per_joint():
    gt = np.zeros((2, 17, 3))
    pred = gt.copy()
    pred[:, 13] = [0, 0, 34.0]  # left wrist off by 34 mm
    s = summarize(pred, gt, get_grouping("5"))
    assert s["per_joint_mpjpe"][13] == pytest.approx(34)
    assert s["per_part_mpjpe"]["left_arm"] == pytest.approx(34 / 3)
    assert s["per_part_mpjpe"]["right_arm"] == 0
    assert s["mpjpe"] == pytest.approx(2.0)
