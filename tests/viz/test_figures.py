"""The matplotlib figures (search, cells, results, 2D pictures) hold what they claim."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402
from toy_data import CHAIN, MIXED, SKIPS, history_json, toy_arrays  # noqa: E402

from partnas_lib.config import DEFAULT_OPS  # noqa: E402
from partnas_lib.nas import analysis as nas_analysis  # noqa: E402
from partnas_lib.nas.genotype import Genotype  # noqa: E402
from partnas_lib.viz import cells, images, results, search  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _history() -> nas_analysis.SearchHistory:
    return nas_analysis.SearchHistory.from_json(history_json())


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
    # reference lines: trunk, crop, and 2 x crop + 1 (the whole crop seen from its edges)
    assert [line.get_xdata()[0] for line in fig.axes[0].lines] == [90, 64, 129]
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


def test_per_part_legend_covers_no_bar():
    m = _metrics()
    m["per_part_mpjpe"] = {"torso_head": 70.0, "right_arm": 180.0, "left_arm": 180.0, "right_leg": 120.0,
                           "left_leg": 120.0}
    fig = results.plot_per_part(m)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.axes[0].get_legend().get_window_extent(renderer)
    bars = [p.get_window_extent(renderer) for p in fig.axes[0].patches]
    assert len(bars) == 5 and not any(legend.overlaps(b) for b in bars)


def test_image_grid_and_projection_figure():
    arrays = toy_arrays()
    fig = images.image_grid(arrays, [0, 1, 2], ncols=2, skeleton=True)
    assert sum(bool(ax.images) for ax in fig.axes) == 3
    fig = images.projection_figure(arrays, 0)
    assert len(fig.axes) == 2 and fig.axes[1].images
