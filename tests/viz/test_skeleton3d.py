"""The plotly 3D skeletons and scenes hold what they claim."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from toy_data import standing_pose, toy_arrays

from partnas_lib.skeleton import BONES, NUM_JOINTS, get_grouping
from partnas_lib.viz import skeleton3d


def _bones_in(trace: go.Scatter3d) -> int:
    return sum(v is None for v in trace.x)


def test_skeleton_figure_one_trace_per_part_and_all_bones():
    fig = skeleton3d.skeleton_figure(standing_pose(), grouping="5", title="t")
    assert len(fig.data) == 5
    assert all(tr.type == "scatter3d" for tr in fig.data)
    assert sum(_bones_in(tr) for tr in fig.data) == len(BONES) == 16
    assert [tr.name for tr in fig.data] == get_grouping("5").part_names
    assert fig.layout.scene.aspectmode == "manual"  # true proportions, set by frame_scene
    assert fig.layout.title.text == "t"


def _ranges(scene) -> np.ndarray:
    return np.array([scene.xaxis.range, scene.yaxis.range, scene.zaxis.range], dtype=float)


@pytest.mark.parametrize("arms_up", [False, True])
def test_scene_frames_every_joint_with_a_margin_and_true_proportions(arms_up):
    pose = standing_pose()
    if arms_up:  # wrists high above the head: the view must still hold them
        pose[[13, 16], 1] = pose[10, 1] - 500.0
    fig = skeleton3d.skeleton_figure(pose)
    shown = skeleton3d.to_display(pose)
    ranges = _ranges(fig.layout.scene)
    span = shown.max(0) - shown.min(0)
    margin = 0.1 * span.max()
    assert np.all(ranges[:, 0] <= shown.min(0) - margin) and np.all(ranges[:, 1] >= shown.max(0) + margin)
    ratio = fig.layout.scene.aspectratio
    widths = ranges[:, 1] - ranges[:, 0]
    np.testing.assert_allclose([ratio.x, ratio.y, ratio.z], widths / widths.max())  # 1 mm is 1 mm on every axis
    eye = fig.layout.scene.camera.eye
    assert np.linalg.norm([eye.x, eye.y, eye.z]) > 2.2  # far enough back that the box stays in the picture
    assert fig.layout.scene.zaxis.title.text == "−Y up (mm)"


def test_sample_figure_frames_its_3d_panel_on_the_skeleton():
    arrays = toy_arrays(3)
    fig = skeleton3d.sample_figure(arrays, 1)
    pts = skeleton3d.scene_points(fig)
    assert len(pts) > 0
    ranges = _ranges(fig.layout.scene)
    assert np.all(ranges[:, 0] < pts.min(0)) and np.all(ranges[:, 1] > pts.max(0))


def test_display_coordinates_put_people_upright():
    pose = standing_pose()
    shown = skeleton3d.to_display(pose)
    # camera Y points down: the head (10) has a smaller Y than the ankles, so it is *higher* on screen
    assert pose[10, 1] < pose[3, 1]
    assert shown[10, 2] > shown[3, 2]
    np.testing.assert_allclose(shown[:, 1], pose[:, 2])  # depth goes into the screen


def test_bones_follow_their_child_joint():
    parts = skeleton3d.bones_by_part("5")
    assert (8, 11) in parts["left_arm"] and (0, 1) in parts["right_leg"] and (0, 7) in parts["torso_head"]
    assert sum(len(b) for b in parts.values()) == 16


def test_17_part_grouping_keeps_the_bone_less_pelvis():
    traces = skeleton3d.skeleton_traces(standing_pose(), "17")
    assert len(traces) == 17
    assert sum(_bones_in(t) for t in traces) == 16 + 1  # the pelvis alone: one point and a separator
    assert len(set(skeleton3d.part_colours("17").values())) == 17


def test_several_people_share_the_legend():
    people = np.stack([standing_pose((x, 0, 5000)) for x in (-1000, 0, 1000)])
    fig = skeleton3d.skeleton_figure(people)
    assert len(fig.data) == 15
    assert sum(bool(tr.showlegend) for tr in fig.data) == 5


def test_compare_figure_overlays_gt_prediction_and_errors():
    gt = standing_pose()
    pred = gt + np.array([10.0, 0.0, 0.0])
    pred[13] += np.array([0.0, 50.0, 0.0])  # left wrist off by 50 mm
    fig = skeleton3d.compare_figure(gt, pred)
    assert len(fig.data) == 5 + 5 + 1
    errors = fig.data[-1]
    assert errors.name == "error" and _bones_in(errors) == NUM_JOINTS
    assert "MPJPE" in fig.layout.title.text
    expected = np.linalg.norm((pred - pred[:1]) - (gt - gt[:1]), axis=-1).mean()
    assert f"{expected:.0f} mm" in fig.layout.title.text


def test_camera_frustum_corners_are_back_projected():
    tr = skeleton3d.camera_frustum_trace((1000.0, 1000.0, 500.0, 500.0), (1000, 1000), depth_mm=2000.0)
    pts = [(x, y, z) for x, y, z in zip(tr.x, tr.y, tr.z) if x is not None]
    assert pts[0] == (0.0, 0.0, 0.0)  # the apex: the camera centre
    # pixel (0, 0) at Z = 2 m: X = -1000, Y = -1000 (up) -> display (-1000, 2000, +1000)
    assert pts[1] == pytest.approx((-1000.0, 2000.0, 1000.0))


def test_scene_figure_with_predictions_and_frustum():
    people = np.stack([standing_pose((x, 0, 5000)) for x in (-800, 800)])
    fig = skeleton3d.scene_figure(people, (1000, 1000, 500, 500), (1000, 1000), predictions_mm=people + 5)
    assert fig.data[0].name == "camera"
    assert len(fig.data) == 1 + 2 * (5 + 5)
    assert sum(bool(tr.showlegend) and tr.name == "ground truth" for tr in fig.data) == 1


def test_sample_figure_shows_image_2d_joints_and_3d_skeleton():
    arrays = toy_arrays()
    fig = skeleton3d.sample_figure(arrays, 1)
    types = [tr.type for tr in fig.data]
    assert types.count("image") == 1 and types.count("scatter") == 5 and types.count("scatter3d") == 5
    assert "standing" in fig.layout.title.text
    with pytest.raises(IndexError, match="out of range"):
        skeleton3d.sample_figure(arrays, 3)


def test_interactive_samples_slider_walks_the_given_order():
    arrays = toy_arrays()
    box = skeleton3d.interactive_samples(arrays, arrays.joints_3d + 1.0, order=[2, 0])
    slider, label = box.children[0].children
    out = box.children[1]
    assert slider.max == 1
    assert "index 2" in label.value
    assert "application/vnd.plotly.v1+json" in out.outputs[0]["data"]
    slider.value = 1
    assert "index 0" in label.value
    data = out.outputs[0]["data"]["application/vnd.plotly.v1+json"]["data"]
    assert sum(d["type"] == "scatter3d" for d in data) == 5 + 5 + 1
    with pytest.raises(ValueError):
        skeleton3d.interactive_samples(arrays, order=[])


def test_wrong_joint_shape_is_named():
    with pytest.raises(ValueError, match="expected \\(..., 17, 3\\)"):
        skeleton3d.skeleton_figure(np.zeros((16, 3)))
