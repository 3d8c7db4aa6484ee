"""The ray caster: exact tiling, occlusion, body vs. background, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from partnas_lib.camera import Camera, crop_intrinsics, look_at, square_bbox
from partnas_lib.data.synth.actions import place_in_world
from partnas_lib.data.synth.body import Body, forward_kinematics, neutral_angles
from partnas_lib.data.synth.capsules import PRIMITIVE_NAMES, build_primitives
from partnas_lib.data.synth.raycast import intersection_constants, raycast, raycast_dense
from partnas_lib.data.synth.render import random_scene, render_batch
from partnas_lib.data.synth.synthetic import _sample_geometry


def _facing_camera(angles: dict[str, float], body: Body | None = None, size: int = 64):
    """A person standing at the origin facing a camera 4 m in front: camera joints + crop."""
    body = body or Body.mean()
    joints = place_in_world(forward_kinematics(body, angles), 0.0, np.zeros(2), 1000.0)
    centre = np.array([4000.0, 0.0, 1000.0])  # the body faces +x, so the camera stands at +x
    cam = Camera(f=(1145.0, 1145.0), c=(500.0, 500.0), R=look_at(centre, np.array([0.0, 0, 1000])), C=centre)
    joints_cam = cam.world_to_camera(joints)
    bbox = square_bbox(cam.project(joints_cam), margin=1.25)
    return joints_cam, crop_intrinsics(cam.intrinsics, bbox, size), body


def _tensors(joints_cam, body, intr, k):
    prims = build_primitives(joints_cam, body)
    consts = torch.from_numpy(intersection_constants(prims.a, prims.b, prims.radius)).float()[None]
    radius = torch.from_numpy(prims.radius).float()[None]
    return consts, radius, torch.from_numpy(np.asarray(intr) * k).float()[None]


def test_tiled_raycast_equals_dense_bruteforce():
    for i in range(3):
        g = _sample_geometry(np.random.default_rng([99, i]), 36)
        consts, radius, intr = _tensors(g["joints_cam"], g["body"], g["crop_intr"], 2)
        t_fast, p_fast = raycast(intr, consts, radius, 72, 72)  # not a multiple of the tile
        t_ref, p_ref = raycast_dense(intr, consts, 72, 72)
        assert torch.equal(p_fast, p_ref)
        assert torch.equal(t_fast, t_ref)
        assert (p_ref >= 0).float().mean() > 0.03  # the body is actually in the picture


def test_nearer_capsule_wins_whatever_the_order():
    near = intersection_constants(np.array([-300.0, 0, 3000]), np.array([300.0, 0, 3000]), np.array(50.0))
    far = intersection_constants(np.array([0.0, -300, 3500]), np.array([0.0, 300, 3500]), np.array(50.0))
    intr = torch.tensor([[400.0, 400.0, 32.0, 32.0]])
    for order in ([near, far], [far, near]):
        consts = torch.from_numpy(np.stack(order)).float()[None]
        radius = torch.full((1, 2), 50.0)
        t, prim = raycast(intr, consts, radius, 64, 64)
        winner = 0 if order[0] is near else 1
        assert prim[0, 32, 32] == winner  # the crossing: nearer capsule in front
        assert t[0, 32, 32] == pytest.approx(3000 - 50, abs=1.0)
        assert prim[0, 5, 32] == 1 - winner  # the far capsule is visible above the near one
        assert prim[0, 5, 5] == -1


def test_forearm_across_the_belly_occludes_the_torso():
    # Right arm: shoulder flexed 30 deg, upper arm twisted inwards, elbow at 90 deg: the forearm
    # lies horizontally in front of the waist.
    angles = neutral_angles() | {"r_shoulder_flex": 30.0, "r_shoulder_twist": -90.0, "r_elbow_flex": 90.0,
                                 "l_shoulder_abd": 15.0}
    body = Body.mean()
    body.shirt, body.skin, body.long_sleeves = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), False
    joints_cam, intr, body = _facing_camera(angles, body, size=64)
    consts, radius, intr_t = _tensors(joints_cam, body, intr, 1)
    t, prim = raycast(intr_t, consts, radius, 64, 64)
    forearm, waist = PRIMITIVE_NAMES.index("r_forearm"), PRIMITIVE_NAMES.index("waist")
    t_waist, p_waist = raycast(intr_t, consts[:, waist:waist + 1], radius[:, waist:waist + 1], 64, 64)
    overlap = (prim[0] == forearm) & (p_waist[0] == 0)
    assert overlap.sum() >= 10, "the forearm should cover part of the waist"
    assert torch.all(t[0][overlap] < t_waist[0][overlap])
    # In the rendered image those pixels are skin (green), not shirt (red).
    img = render_batch(joints_cam[None], intr[None], [body], 64, [np.random.default_rng(0)], supersample=1)[0]
    ys, xs = np.nonzero(overlap.numpy())
    px = img[ys, xs].astype(int)
    assert np.mean(px[:, 1] > px[:, 0]) > 0.9


def _render_samples(n: int, size: int = 48, seed: int = 5):
    geo = [_sample_geometry(np.random.default_rng([seed, i]), size) for i in range(n)]
    rngs = [np.random.default_rng([seed, 1000 + i]) for i in range(n)]
    imgs, cover = render_batch(np.stack([g["joints_cam"] for g in geo]), np.stack([g["crop_intr"] for g in geo]),
                               [g["body"] for g in geo], size, rngs, return_coverage=True)
    return geo, imgs, cover


def test_output_type_and_body_differs_from_background():
    geo, imgs, cover = _render_samples(4)
    assert imgs.shape == (4, 48, 48, 3) and imgs.dtype == np.uint8
    assert cover.shape == (4, 48, 48) and cover.min() >= 0 and cover.max() <= 1
    for i in range(4):
        scene = random_scene(np.random.default_rng([5, 1000 + i]), 48)  # same draws as the renderer
        plain = np.round(np.clip(scene.background + scene.noise, 0, 1) * 255)
        diff = np.abs(imgs[i].astype(float) - plain).mean(-1)
        bg, body = cover[i] == 0, cover[i] == 1
        assert 0.05 < body.mean() < 0.8
        assert diff[bg].max() <= 1.0  # untouched background
        assert np.mean(diff[body] > 8) > 0.7  # the body is drawn over it


def test_projected_pelvis_is_covered_by_the_body():
    geo, _, cover = _render_samples(6)
    for g, c in zip(geo, cover):
        fx, fy, cx, cy = g["crop_intr"]
        x, y, z = g["joints_cam"][0]
        u, v = int(fx * x / z + cx), int(fy * y / z + cy)
        assert c[v, u] > 0.99


def test_images_vary_across_samples():
    _, imgs, _ = _render_samples(6)
    flat = imgs.reshape(6, -1).astype(float)
    for i in range(6):
        for j in range(i + 1, 6):
            assert np.abs(flat[i] - flat[j]).mean() > 10


def test_image_does_not_depend_on_the_rest_of_the_batch():
    geo = [_sample_geometry(np.random.default_rng([3, i]), 40) for i in range(5)]
    args = lambda idx: (np.stack([geo[i]["joints_cam"] for i in idx]),  # noqa: E731
                        np.stack([geo[i]["crop_intr"] for i in idx]), [geo[i]["body"] for i in idx], 40,
                        [np.random.default_rng([3, 100 + i]) for i in idx])
    together = render_batch(*args(range(5)), images_per_chunk=5)
    chunked = render_batch(*args(range(5)), images_per_chunk=2, num_workers=2)
    serial = render_batch(*args(range(5)), images_per_chunk=3, num_workers=1)
    alone = render_batch(*args([3]))
    assert np.array_equal(together, chunked) and np.array_equal(together, serial)
    assert np.array_equal(together[3], alone[0])


def test_supersampling_antialiases_edges():
    joints_cam, intr, body = _facing_camera(neutral_angles() | {"l_shoulder_abd": 40.0, "r_shoulder_abd": 40.0})
    _, cover1 = render_batch(joints_cam[None], intr[None], [body], 64, [np.random.default_rng(0)],
                             supersample=1, return_coverage=True)
    _, cover3 = render_batch(joints_cam[None], intr[None], [body], 64, [np.random.default_rng(0)],
                             supersample=3, return_coverage=True)
    assert set(np.unique(cover1)) <= {0.0, 1.0}
    partial = (cover3 > 0.05) & (cover3 < 0.95)
    assert partial.sum() > 20  # soft edges
    assert abs(cover1.mean() - cover3.mean()) < 0.02  # same silhouette


def test_bad_input_is_rejected():
    joints_cam, intr, body = _facing_camera(neutral_angles())
    behind = joints_cam.copy()
    behind[:, 2] *= -1
    with pytest.raises(ValueError, match="in front of the camera"):
        render_batch(behind[None], intr[None], [body], 32, [np.random.default_rng(0)])
    with pytest.raises(ValueError, match="equal counts"):
        render_batch(joints_cam[None], intr[None], [body, body], 32, [np.random.default_rng(0)])
