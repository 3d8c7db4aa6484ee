"""The visualisation helpers: figures hold what they claim, numbers match hand computations."""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import plotly.graph_objects as go  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

from partnas_lib import notebook as nb  # noqa: E402
from partnas_lib.config import DEFAULT_OPS  # noqa: E402
from partnas_lib.data.sample import SampleArrays  # noqa: E402
from partnas_lib.data.synth.body import Body, forward_kinematics, neutral_angles  # noqa: E402
from partnas_lib.eval import analysis as eval_analysis  # noqa: E402
from partnas_lib.models import receptive_field  # noqa: E402
from partnas_lib.nas import analysis as nas_analysis  # noqa: E402
from partnas_lib.nas.genotype import CellGenotype, Genotype  # noqa: E402
from partnas_lib.skeleton import BONES, NUM_JOINTS, bone_lengths, get_grouping  # noqa: E402
from partnas_lib.viz import cells, images, results, search, skeleton3d  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _pose(offset=(0.0, 0.0, 5000.0)) -> np.ndarray:
    """A standing person in camera space: body frame (x fwd, y left, z up) facing the camera."""
    body = forward_kinematics(Body.mean(), neutral_angles())
    cam = np.stack([body[:, 1], -body[:, 2], -body[:, 0]], axis=-1)  # X right, Y down, Z forward
    return cam + np.asarray(offset)


def _arrays(n: int = 3, size: int = 32) -> SampleArrays:
    rng = np.random.default_rng(0)
    j3 = np.stack([_pose((100.0 * i, 0.0, 4000.0 + 500 * i)) for i in range(n)]).astype(np.float32)
    intr = np.tile(np.array([1000.0, 1000.0, 500.0, 500.0], np.float32), (n, 1))
    j2 = j3[..., :2] / j3[..., 2:] * 1000.0 + 500.0
    bbox = np.stack([np.r_[j2[i].min(0) - 50, (j2[i].max(0) - j2[i].min(0)).max() + 100] for i in range(n)])
    bbox = np.concatenate([bbox, bbox[:, 2:3]], axis=1).astype(np.float32)
    return SampleArrays(
        images=rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8), joints_2d=j2.astype(np.float32),
        joints_3d=j3, joints_vis=np.ones((n, NUM_JOINTS), bool), root_depth=j3[:, 0, 2].copy(),
        intrinsics=intr, bbox=bbox, has_3d=np.ones(n, bool),
        meta=[{"action": "standing", "subject": f"s{i}"} for i in range(n)],
    )


def _bones_in(trace: go.Scatter3d) -> int:
    return sum(v is None for v in trace.x)


# --------------------------------------------------------------------------------------------
# plotly skeletons


def test_skeleton_figure_one_trace_per_part_and_all_bones():
    fig = skeleton3d.skeleton_figure(_pose(), grouping="5", title="t")
    assert len(fig.data) == 5
    assert all(tr.type == "scatter3d" for tr in fig.data)
    assert sum(_bones_in(tr) for tr in fig.data) == len(BONES) == 16
    assert [tr.name for tr in fig.data] == get_grouping("5").part_names
    assert fig.layout.scene.aspectmode == "data"
    assert fig.layout.title.text == "t"


def test_display_coordinates_put_people_upright():
    pose = _pose()
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
    traces = skeleton3d.skeleton_traces(_pose(), "17")
    assert len(traces) == 17
    assert sum(_bones_in(t) for t in traces) == 16 + 1  # the pelvis alone: one point and a separator
    assert len(set(skeleton3d.part_colours("17").values())) == 17


def test_several_people_share_the_legend():
    people = np.stack([_pose((x, 0, 5000)) for x in (-1000, 0, 1000)])
    fig = skeleton3d.skeleton_figure(people)
    assert len(fig.data) == 15
    assert sum(bool(tr.showlegend) for tr in fig.data) == 5


def test_compare_figure_overlays_gt_prediction_and_errors():
    gt = _pose()
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
    people = np.stack([_pose((x, 0, 5000)) for x in (-800, 800)])
    fig = skeleton3d.scene_figure(people, (1000, 1000, 500, 500), (1000, 1000), predictions_mm=people + 5)
    assert fig.data[0].name == "camera"
    assert len(fig.data) == 1 + 2 * (5 + 5)
    assert sum(bool(tr.showlegend) and tr.name == "ground truth" for tr in fig.data) == 1


def test_sample_figure_shows_image_2d_joints_and_3d_skeleton():
    arrays = _arrays()
    fig = skeleton3d.sample_figure(arrays, 1)
    types = [tr.type for tr in fig.data]
    assert types.count("image") == 1 and types.count("scatter") == 5 and types.count("scatter3d") == 5
    assert "standing" in fig.layout.title.text
    with pytest.raises(IndexError, match="out of range"):
        skeleton3d.sample_figure(arrays, 3)


def test_interactive_samples_slider_walks_the_given_order():
    arrays = _arrays()
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


# --------------------------------------------------------------------------------------------
# analysis: hand-computed numbers


def test_entropy_by_hand():
    assert nas_analysis.entropy(np.full(8, 1 / 8)) == pytest.approx(math.log(8))
    assert nas_analysis.entropy(np.full(8, 1 / 8), normalise=True) == pytest.approx(1.0)
    assert nas_analysis.entropy(np.eye(4)[1]) == pytest.approx(0.0)
    assert nas_analysis.entropy([0.5, 0.5, 0.0, 0.0]) == pytest.approx(math.log(2))
    assert nas_analysis.entropy([0.5, 0.5, 0.0, 0.0], normalise=True) == pytest.approx(0.5)
    np.testing.assert_allclose(nas_analysis.entropy(np.array([[1.0, 0.0], [0.5, 0.5]])), [0.0, math.log(2)])


def _history_json() -> dict:
    """Two parts, three ops, two recorded epochs after init (alpha per edge is the same on all 9)."""
    ops = ["none", "skip_connect", "sep_conv_3x3"]
    edges = [[0, 2], [1, 2], [0, 3], [1, 3], [2, 3], [0, 4], [1, 4], [2, 4], [3, 4]]

    def part(a, beta):
        return {"alpha": [list(a)] * 9, "beta": list(beta), "alpha_logits": [[0, 0, 0]] * 9, "beta_logits": [0] * 9}

    uniform_beta = [0.5, 0.5, 1 / 3, 1 / 3, 1 / 3, 0.25, 0.25, 0.25, 0.25]
    cell = [[["sep_conv_3x3", 0], ["skip_connect", 1]], [["sep_conv_3x3", 2], ["sep_conv_3x3", 0]],
            [["skip_connect", 3], ["sep_conv_3x3", 1]]]
    rows = [
        {"epoch": 0, "phase": "init",
         "parts": {"a": part([1 / 3] * 3, uniform_beta), "b": part([1 / 3] * 3, uniform_beta)}},
        {"epoch": 1, "phase": "warmup", "w_loss": 2.0, "a_loss": None,
         "parts": {"a": part([1 / 3] * 3, uniform_beta), "b": part([1 / 3] * 3, uniform_beta)},
         "genotype": {"a": cell, "b": cell}},
        {"epoch": 2, "phase": "search", "w_loss": 1.5, "a_loss": 1.6,
         "parts": {"a": part([0.0, 0.5, 0.5], uniform_beta), "b": part([0.0, 0.0, 1.0], uniform_beta)},
         "genotype": {"a": cell, "b": cell}},
    ]
    return {"ops": ops, "parts": ["a", "b"], "edges": edges, "partial_channels": 4, "edge_norm": True,
            "epochs": rows, "search_seconds": 12.5}


def test_search_history_reads_and_summarises(tmp_path):
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "alpha_history.json").write_text(json.dumps(_history_json()))
    h = nas_analysis.SearchHistory.load(tmp_path)
    assert h.alpha.shape == (3, 2, 9, 3) and h.beta.shape == (3, 2, 9)
    assert h.finished and h.warmup_epochs() == [1] and h.edge_labels[4] == "2→3"
    assert np.isnan(h.w_loss[0]) and np.isnan(h.a_loss[1]) and h.a_loss[2] == 1.6
    ent = nas_analysis.alpha_entropy(h)
    np.testing.assert_allclose(ent[0], [1.0, 1.0])
    np.testing.assert_allclose(ent[2], [math.log(2) / math.log(3), 0.0])
    # parameter-free ops here: none + skip_connect
    np.testing.assert_allclose(nas_analysis.parameter_free_share(h)[2], [0.5, 0.0])
    np.testing.assert_allclose(nas_analysis.op_share(h)[2, 1], [0.0, 0.0, 1.0])
    # derive score of edge 0 of part a: best non-none op 0.5 x beta 0.5
    assert nas_analysis.edge_scores(h)[0, 0] == pytest.approx(0.25)
    assert h.cells_at(0) is None and h.cells_at(-1)["a"].edges[0] == ("sep_conv_3x3", 0, 2)
    with pytest.raises(FileNotFoundError, match="has the search run"):
        nas_analysis.SearchHistory.load(tmp_path / "missing")


def _cell(nodes) -> CellGenotype:
    return CellGenotype(tuple(tuple(node) for node in nodes))


MIXED = _cell([[("skip_connect", 0), ("sep_conv_3x3", 1)], [("sep_conv_5x5", 2), ("max_pool_3x3", 0)],
               [("dil_conv_3x3", 3), ("skip_connect", 1)]])
SKIPS = _cell([[("skip_connect", 0), ("skip_connect", 1)], [("skip_connect", 0), ("skip_connect", 2)],
               [("skip_connect", 2), ("skip_connect", 3)]])
CHAIN = _cell([[("sep_conv_3x3", 1), ("skip_connect", 0)], [("sep_conv_3x3", 2), ("skip_connect", 0)],
               [("sep_conv_3x3", 3), ("skip_connect", 1)]])


def test_trunk_receptive_fields_match_the_known_resnet_values():
    assert receptive_field.trunk_receptive_fields(18, "layer4") == [(11, 4), (43, 4), (99, 8), (211, 16), (435, 32)]
    assert receptive_field.trunk_receptive_fields(50, "layer3")[-1] == (267, 16)


def test_cell_receptive_field_by_hand():
    # cell 1 at stride 8: in0 = layer2 (99 px, stride 8), in1 = layer3 (211 px, stride 16) -> 211 + 16
    # node2 = max(99 + 0, 227 + 4*8) = 259; node3 = max(259 + 8*8, 99 + 2*8) = 323;
    # node4 = max(323 + 4*8, 227 + 0) = 355
    assert receptive_field.cell_receptive_field(MIXED, [(99, 8), (211, 16)], stride=8) == 355
    # cell 2 at stride 4: in0 = layer3 (211 + 16 = 227), in1 = cell 1 (355 + 8 = 363)
    # node2 = max(227, 363 + 16) = 379; node3 = max(379 + 32, 227 + 8) = 411; node4 = max(411 + 16, 363) = 427
    trunk = receptive_field.trunk_receptive_fields(18, "layer3")
    assert receptive_field.head_receptive_field(MIXED, trunk, num_cells=2) == 427
    # skip connections add nothing but the up-sampling: 227 after cell 1, max(227, 227 + 8) after cell 2
    assert receptive_field.head_receptive_field(SKIPS, trunk, num_cells=2) == 235
    genotype = Genotype({"torso": SKIPS, "arm": MIXED}, {"torso": [0], "arm": list(range(1, 17))}, list(DEFAULT_OPS))
    assert receptive_field.part_receptive_fields(genotype, 18, "layer3", 2) == {"torso": 235, "arm": 427}
    with pytest.raises(ValueError, match="no receptive-field growth known for op 'conv_7x7'"):
        receptive_field.cell_receptive_field(_cell([[("conv_7x7", 0)], [("skip_connect", 0)], [("skip_connect", 0)]]),
                                      [(1, 1), (1, 1)], 1)


def test_cell_statistics_by_hand():
    assert nas_analysis.cell_conv_depth(CHAIN) == 3
    assert nas_analysis.cell_conv_depth(SKIPS) == 0
    assert nas_analysis.cell_conv_depth(MIXED) == 3  # sep 1->2, sep5 2->3, dil 3->4
    assert nas_analysis.parameter_free_fraction(MIXED) == pytest.approx(3 / 6)
    assert nas_analysis.cell_op_counts(CHAIN) == {"sep_conv_3x3": 3, "skip_connect": 3}


def test_op_parameter_counts_by_hand():
    # C = 8: sep 3x3 = 2 x (depthwise 8*9 + pointwise 8*8 + BN 2*8) = 2 x 152; dil 3x3 = 152 once
    counts = nas_analysis.op_parameter_counts(DEFAULT_OPS, 8)
    assert counts == {"none": 0, "max_pool_3x3": 0, "avg_pool_3x3": 0, "skip_connect": 0,
                      "sep_conv_3x3": 304, "sep_conv_5x5": 560, "dil_conv_3x3": 152, "dil_conv_5x5": 280}


def test_body_statistics():
    pose = _pose()
    assert bone_lengths(pose).shape == (16,)
    assert eval_analysis.left_right_asymmetry(pose) == pytest.approx(0.0, abs=1e-6)
    stretched = pose.copy()
    stretched[13] += (stretched[13] - stretched[12]) * 0.1  # left forearm 10 % longer
    body = Body.mean()
    assert eval_analysis.left_right_asymmetry(stretched) == pytest.approx(0.1 * body.elbow_wrist, rel=1e-6)
    expected = (body.pelvis_spine + body.spine_thorax + body.thorax_nose + body.nose_head
                + body.pelvis_hip + body.hip_knee + body.knee_ankle)
    assert eval_analysis.person_heights(pose) == pytest.approx(expected)
    arrays = _arrays()
    assert eval_analysis.reprojection_errors(arrays).max() < 1e-3
    assert eval_analysis.min_pairwise_distance(np.array([[0, 0], [3, 4], [10, 0]])) == 5.0


def test_errors_and_limb_split():
    gt = np.stack([_pose(), _pose()])
    pred = gt + np.array([0.0, 0.0, 100.0])  # everything 10 cm deeper
    np.testing.assert_allclose(eval_analysis.per_sample_errors(pred, gt), 0.0, atol=1e-9)  # root-aligned
    np.testing.assert_allclose(eval_analysis.absolute_errors(pred, gt), 100.0)
    split = eval_analysis.split_limbs({"torso_head": 1.0, "right_arm": 2.0, "left_leg": 4.0})
    assert split == {"limbs": 3.0, "torso": 1.0}


def test_write_metrics_converts_numpy_and_refuses_nan(tmp_path):
    path = nb.write_metrics(tmp_path / "sub" / "m.json", {"a": np.float32(1.5), "b": np.arange(3), "c": (1, 2)})
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1, 2], "c": [1, 2]}
    with pytest.raises(ValueError, match="non-finite values for \\['x.y'\\]"):
        nb.write_metrics(tmp_path / "bad.json", {"x": {"y": float("nan")}})


# --------------------------------------------------------------------------------------------
# matplotlib figures


def _history() -> nas_analysis.SearchHistory:
    return nas_analysis.SearchHistory.from_json(_history_json())


def test_alpha_and_beta_trajectories_have_a_line_per_op_and_edge():
    h = _history()
    fig = search.plot_alpha_trajectories(h)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    assert len(axes[0].lines) == 3 + 1  # one per op + the uniform reference
    np.testing.assert_allclose(axes[1].lines[2].get_ydata(), [1 / 3, 1 / 3, 1.0])
    fig = search.plot_beta_trajectories(h)
    assert len([ax for ax in fig.axes if ax.get_visible()][0].lines) == 9
    h.beta = None
    with pytest.raises(ValueError, match="no beta"):
        search.plot_beta_trajectories(h)


def test_op_heatmaps_frame_the_kept_edges():
    fig = search.plot_op_heatmaps(_history())
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 2
    assert sum(isinstance(p, Rectangle) for p in panels[0].patches) == 6


def test_entropy_and_parameter_free_plots_have_a_line_per_part_and_search():
    h = _history()
    fig = search.plot_entropy({"seed 0": h, "seed 1": h})
    assert len(fig.axes[0].lines) == 2 * 2
    fig = search.plot_parameter_free_share(h)
    assert len(fig.axes[0].lines) == 2 + 1


def test_draw_cell_draws_every_kept_edge_with_its_op():
    fig = cells.draw_cell(MIXED, title="mixed")
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(arrows) == len(MIXED.edges) + 3  # kept edges + 3 arrows into the concatenated output
    labels = {t.get_text() for t in ax.texts}
    assert {"in 0", "in 1", "2", "3", "4", "out", "sep 3x3", "sep 5x5", "dil 3x3", "max 3x3", "skip"} <= labels
    supernet = cells.draw_cell(cells.supernet_cell())
    assert len([p for p in supernet.axes[0].patches if isinstance(p, FancyArrowPatch)]) == 9 + 3


def test_cells_side_by_side_and_per_seed():
    g = Genotype({"torso_head": SKIPS, "right_arm": MIXED, "left_arm": CHAIN},
                 {"torso_head": [0], "right_arm": [1], "left_arm": list(range(2, 17))}, list(DEFAULT_OPS))
    fig = cells.draw_cells(g)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["torso_head", "right_arm", "left_arm"]
    fig = cells.draw_cells_grid({"seed 0": g, "seed 1": g})
    assert len(fig.axes) == 2 * 3
    fig = cells.plot_op_counts({"seed 0": g})
    assert fig.axes[0].images[0].get_array().sum() == 3 * 6


def test_receptive_field_and_op_parameter_bars():
    fig = cells.plot_receptive_fields({"a": 100.0, "b": 200.0}, trunk_field=90, crop_size=64)
    assert [round(p.get_width()) for p in fig.axes[0].patches] == [100, 200]
    fig = cells.plot_op_parameters({"skip_connect": 0, "sep_conv_3x3": 304})
    assert [round(p.get_height()) for p in fig.axes[0].patches] == [0, 304]


def _metrics() -> dict:
    per_joint = [0.0] + [float(j) for j in range(1, 17)]
    return {"mpjpe": 50.0, "pa_mpjpe": 35.0, "mean_pose_mpjpe": 120.0, "num_test_samples": 10, "params": 123456,
            "preset": "smoke", "seed": 0, "per_part_mpjpe": {"torso_head": 30.0, "right_arm": 70.0},
            "per_joint_mpjpe": per_joint, "per_action_mpjpe": {"walking": 40.0, "sitting": 60.0},
            "protocol": {"box": "ground truth", "flip_test": True}}


def test_result_plots_and_tables():
    m = _metrics()
    fig = results.plot_per_part(m)
    assert [p.get_height() for p in fig.axes[0].patches] == [30.0, 70.0]
    fig = results.plot_per_joint(m)
    bars = [p for p in fig.axes[0].patches if p.get_height() > 0]
    assert len(bars) == 16
    fig = results.plot_per_action(m)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["walking", "sitting"]
    fig = results.plot_error_histogram(np.arange(20.0), m)
    assert fig.axes[0].patches
    text = results.summary_markdown(m)
    assert "| MPJPE (root-aligned) | 50.0 | mm |" in text and "0.123 M" in text
    assert results.protocol_card_markdown(m).count("\n") == 3
    table = results.dict_table_markdown({"a": {"x": 1, "y": 0.25}, "b": {"x": 2}})
    assert table.splitlines()[0] == "| part | x | y |" and "| a | 1 | 0.25 |" in table


# --------------------------------------------------------------------------------------------
# 2D pictures and the multi-person scene


def test_image_grid_and_projection_figure():
    arrays = _arrays()
    fig = images.image_grid(arrays, [0, 1, 2], ncols=2, skeleton=True)
    assert sum(bool(ax.images) for ax in fig.axes) == 3
    fig = images.projection_figure(arrays, 0)
    assert len(fig.axes) == 2 and fig.axes[1].images
