import numpy as np
import pytest

from partnas_lib import camera
from partnas_lib.skeleton import BONES, FLIP_PAIRS, JOINT_NAMES, NUM_JOINTS, PARENTS, flip_permutation, get_grouping


def test_skeleton_tables_consistent():
    assert NUM_JOINTS == 17 and len(JOINT_NAMES) == 17
    assert len(BONES) == 16
    assert PARENTS[0] == -1 and all(p >= 0 for p in PARENTS[1:])
    perm = flip_permutation()
    assert sorted(perm) == list(range(17))
    for a, b in FLIP_PAIRS:
        assert JOINT_NAMES[a][2:] == JOINT_NAMES[b][2:]
        assert perm[a] == b and perm[b] == a


@pytest.mark.parametrize("name,count", [("1", 1), ("3", 3), ("5", 5), ("17", 17)])
def test_named_groupings_partition_the_joints(name, count):
    g = get_grouping(name)
    assert len(g) == count
    assert sorted(j for js in g.joint_lists for j in js) == list(range(17))


def test_default_grouping_is_kinematic_parts():
    g = get_grouping("5")
    assert g.to_json()["right_arm"] == [14, 15, 16]
    assert g.to_json()["torso_head"] == [0, 7, 8, 9, 10]


def test_custom_grouping_validation():
    ok = get_grouping({"upper": list(range(7, 17)), "lower": list(range(7))})
    assert ok.part_names == ["upper", "lower"]
    with pytest.raises(ValueError, match=r"joints 16 \(r_wrist\) are in no part"):
        get_grouping({"a": list(range(16))})
    with pytest.raises(ValueError, match="joint 3 .* is in both 'a' and 'b'"):
        get_grouping({"a": list(range(17)), "b": [3]})
    with pytest.raises(ValueError, match="expected an index in 0..16"):
        get_grouping({"a": list(range(16)) + [17]})
    with pytest.raises(ValueError, match="unknown part grouping '4'"):
        get_grouping("4")


def test_camera_round_trip_world_pixel_ray():
    rng = np.random.default_rng(0)
    for cam in camera.h36m_like_rig(rng, distortion=True):
        pts = rng.uniform([-800, -800, 0], [800, 800, 1800], size=(50, 3))
        X_cam = cam.world_to_camera(pts)
        assert np.all(X_cam[:, 2] > 3000) and np.all(X_cam[:, 2] < 7500)  # H36M-like depths
        uv = cam.project(X_cam)
        assert np.all((uv > 0) & (uv < 1000))
        back = cam.backproject(uv, X_cam[:, 2])
        np.testing.assert_allclose(back, X_cam, atol=1e-3)
        np.testing.assert_allclose(cam.camera_to_world(back), pts, atol=1e-3)
        ray = cam.pixel_to_ray(uv)
        cosine = np.sum(ray * X_cam, 1) / np.linalg.norm(ray, axis=1) / np.linalg.norm(X_cam, axis=1)
        np.testing.assert_allclose(cosine, 1.0, atol=1e-9)


def test_projection_formula_and_distortion_effect():
    cam = camera.Camera(f=(1000, 1000), c=(500, 500))
    np.testing.assert_allclose(cam.project(np.array([100.0, -200.0, 5000.0])), [520.0, 460.0])
    dist = camera.Camera(f=(1145, 1144), c=(512, 515), k=(-0.207, 0.248, -0.003), p=(-0.0014, -0.001))
    X = np.array([[900.0, 700.0, 4500.0]])
    shift = np.linalg.norm(dist.project(X) - camera.Camera(f=dist.f, c=dist.c).project(X))
    assert 0.1 < shift < 10  # H36M lenses: a few px at the image edge


def test_crop_helpers_are_inverse():
    uv = np.array([[[100.0, 200.0], [150.0, 260.0]]])
    bbox = np.array([[80.0, 180.0, 120.0, 120.0]])
    crop = camera.image_to_crop(uv, bbox, 64)
    np.testing.assert_allclose(camera.crop_to_image(crop, bbox, 64), uv)
    k = camera.crop_intrinsics(np.array([1000, 1000, 500, 500.0]), bbox[0], 64)
    X = np.array([30.0, -40.0, 5000.0])
    full = np.array([1000 * X[0] / X[2] + 500, 1000 * X[1] / X[2] + 500])
    via_crop = np.array([k[0] * X[0] / X[2] + k[2], k[1] * X[1] / X[2] + k[3]])
    np.testing.assert_allclose(camera.image_to_crop(full[None, None], bbox, 64)[0, 0], via_crop)


def test_square_bbox_contains_points_with_margin():
    uv = np.array([[10.0, 20.0], [30.0, 100.0]])
    x, y, w, h = camera.square_bbox(uv, margin=1.25)
    assert w == pytest.approx(h) == pytest.approx(100.0)
    assert x < 10 and x + w > 30 and y < 20 and y + h > 100
