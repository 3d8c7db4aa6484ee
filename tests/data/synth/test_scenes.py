"""Synthetic multi-person scenes: occlusion between people, boxes, crops, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from partnas_lib.camera import image_to_crop
from partnas_lib.data.datasets.mupots_facts import BONES_SAFE_ORDER, rescale_bones
from partnas_lib.data.synth import scene_splits, scenes
from partnas_lib.data.synth.body import Body, forward_kinematics, neutral_angles
from partnas_lib.data.synth.render import render_people

SEED = 4242


@pytest.fixture(scope="module")
def frames() -> list[scenes.MultiPersonFrame]:
    return list(scenes.iter_frames(SEED, range(3), 2, width=192, supersample=1, workers=1))


def _lined_up(rng: np.random.Generator, near: float, far: float) -> scenes.SceneSetup:
    """Two standing people on the camera's line of sight, one behind the other."""
    cam = scenes.frame_camera(rng, 192)
    fwd, _ = scenes._floor_axes(cam)
    people = [scenes.PersonSetup(Body.mean(), "standing", cam.C[:2] + d * fwd, yaw)
              for d, yaw in ((far, 0.0), (near, 90.0))]
    return scenes.SceneSetup(camera=cam, people=people, render_seed=7, sequence="S01", index=0)


def test_a_nearer_person_hides_a_farther_one():
    setup = _lined_up(np.random.default_rng(0), near=3500.0, far=6000.0)
    frame = scenes.render_frame(setup, SEED, 0, supersample=1)
    far, near = frame.people
    assert near.root_depth < far.root_depth
    # the far person's pelvis and spine lie behind the near person's body
    for joint in (0, 7):
        u, v = np.floor(far.joints_2d[joint]).astype(int)
        assert frame.person_map[v, u] == 1
        assert not far.joints_vis[joint]
    assert near.joints_vis.all()  # nobody stands in front of the near person
    assert near.pixels > far.pixels > 0
    # z-buffer, not painter: listing the people the other way round draws the same image
    joints = [p.joints_cam for p in frame.people]
    bodies = [p.body for p in frame.people]
    a = render_people(joints, bodies, frame.intrinsics, *frame.size, np.random.default_rng(1), 1)
    b = render_people(joints[::-1], bodies[::-1], frame.intrinsics, *frame.size, np.random.default_rng(1), 1)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.person_map, np.where(b.person_map >= 0, 1 - b.person_map, -1))
    np.testing.assert_allclose(a.coverage, b.coverage[::-1])


def test_boxes_contain_the_projected_joints(frames):
    for f in frames:
        assert scenes.PEOPLE_PER_SCENE[0] <= len(f.people) <= scenes.PEOPLE_PER_SCENE[1]
        assert f.image.shape == (f.size[1], f.size[0], 3) and f.image.dtype == np.uint8
        for p in f.people:
            np.testing.assert_allclose(p.joints_2d, f.camera.project(p.joints_cam), atol=1e-6)
            x, y, w, h = p.bbox
            assert w == pytest.approx(h)  # 3DMPPE boxes are square (aspect 1)
            assert np.all(p.joints_2d >= [x, y]) and np.all(p.joints_2d <= [x + w, y + h])
            assert np.all(p.joints_2d >= 0) and np.all(p.joints_2d <= f.size)  # whole person in the frame
            lo, hi = scenes.GROUND_DISTANCE_MM
            assert lo - 1500 < p.root_depth < hi + 1500


def test_people_keep_their_spots_over_a_sequence(frames):
    a, b = frames[0], frames[1]  # two frames of sequence 0
    assert (a.sequence, b.sequence, a.frame, b.frame) == ("S01", "S01", 0, 1)
    assert [p.action for p in a.people] == [p.action for p in b.people]
    for p, q in zip(a.people, b.people):
        assert np.linalg.norm(p.joints_cam[0] - q.joints_cam[0]) < 600  # small moves, not a new scene
        assert not np.allclose(p.joints_cam, q.joints_cam)  # but a new pose
    np.testing.assert_array_equal(a.intrinsics, b.intrinsics)
    ids = [f.image_id for f in frames]
    assert ids == list(range(len(frames)))


def test_per_person_crops_are_valid_samples(frames):
    f = frames[2]
    samples = scene_splits.frame_samples(f, 64)
    assert len(samples) == len(f.people)
    for i, s in enumerate(samples):
        s.validate(f"person {i}")
        assert s.image.shape == (64, 64, 3) and s.image.std() > 5  # not blank
        assert s.meta["image_id"] == f.image_id and s.meta["person"] == i and s.meta["sequence"] == f.sequence
        assert s.root_depth == pytest.approx(s.joints_3d[0, 2])
        uv = image_to_crop(s.joints_2d, s.bbox, 64)
        assert np.all(uv >= 0) and np.all(uv <= 64)
        univ = np.asarray(s.meta["joints_3d_univ"])
        np.testing.assert_allclose(univ[0], s.joints_3d[0], atol=1e-3)


def test_a_frame_renders_the_same_alone(frames):
    alone = scenes.render_frame(scenes.scene_setup(SEED, 1, 192), SEED, 1, supersample=1, image_id=3)
    np.testing.assert_array_equal(alone.image, frames[3].image)
    np.testing.assert_array_equal(alone.people[0].joints_cam, frames[3].people[0].joints_cam)


def test_universal_skeleton_has_the_mean_bone_lengths(frames):
    X = frames[0].people[0].joints_cam
    U = scenes.universal_skeleton(X)
    mean = forward_kinematics(Body.mean(), neutral_angles())
    np.testing.assert_allclose(U[0], X[0])
    for c, p in BONES_SAFE_ORDER:
        assert np.linalg.norm(U[c] - U[p]) == pytest.approx(np.linalg.norm(mean[c] - mean[p]))
        d_x, d_u = X[c] - X[p], U[c] - U[p]
        assert d_x @ d_u / np.linalg.norm(d_x) / np.linalg.norm(d_u) == pytest.approx(1.0)
    # what the official scorer does to a perfect prediction lands exactly on this ground truth
    np.testing.assert_allclose(rescale_bones(X, U), U, atol=1e-9)


def test_split_is_cached_and_sized(tmp_path):
    assert scene_splits.split_layout("test", 600) == (20, 10)
    assert scene_splits.split_layout("train", 60) == (10, 2)
    a = scene_splits.load_multi_split("val", 6, 0, 32, width=128, supersample=1, cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("multi-*.npz"))) == 1
    b = scene_splits.load_multi_split("val", 6, 0, 32, width=128, supersample=1, cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(a.images, b.images)
    assert a.meta == b.meta and a.meta[0]["source"] == "synthetic-multi" and a.meta[0]["split"] == "val"
    assert {m["image_id"] for m in a.meta} == {0, 1}
