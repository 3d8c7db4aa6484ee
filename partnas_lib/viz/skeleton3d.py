"""Interactive 3D skeletons with plotly: coloured by part, GT vs prediction, several people.

All inputs are Human3.6M-17 joints in **camera space, millimetres** (docs/architecture.md: X right, Y down,
Z forward).  Plotly's 3D scenes have Z up, so every figure shows ``(X, Z, -Y)``:

* display x = camera X (right),
* display y = camera Z (depth, away from the camera),
* display z = -camera Y (up),

so people stand upright and the default view looks at them from the camera's side.  Axes keep
their true proportions (``aspectmode="data"``): a 450 mm shin looks as long as a 450 mm thigh.

Colours: one per part of the grouping (:func:`part_colours`); for the default 5-part grouping
right limbs are warm (red/orange), left limbs cool (blue/cyan), torso and head green, so a
mirrored prediction is obvious at a glance.  A bone belongs to the part of its *child* joint
(the bone thorax -> left shoulder is drawn with the left arm).

``interactive_samples`` puts an ipywidgets slider over a set of samples and shows each image
beside its 3D skeleton; every other function returns a ``plotly.graph_objects.Figure``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from partnas_lib.camera import image_to_crop
from partnas_lib.data.sample import SampleArrays
from partnas_lib.skeleton import BONES, JOINT_NAMES, NUM_JOINTS, PartGrouping, get_grouping

#: Fixed colours of the default 5-part grouping (right warm, left cool, torso green).
PART_COLOURS: dict[str, str] = {
    "torso_head": "#2ca02c",
    "right_arm": "#d62728",
    "right_leg": "#ff7f0e",
    "left_arm": "#1f77b4",
    "left_leg": "#17becf",
    "head": "#2ca02c",
    "upper_limbs": "#d62728",
    "lower_limbs": "#1f77b4",
    "body": "#444444",
}
#: Colours for parts without a fixed colour (custom and 17-part groupings), used in order.
PALETTE: tuple[str, ...] = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#8c6d31", "#7b4173", "#3182bd", "#e6550d",
)
GT_COLOUR = "#555555"

GroupingSpec = str | dict[str, Sequence[int]] | PartGrouping


def colours_for_parts(parts: Sequence[str]) -> dict[str, str]:
    """The standard colour of each part when all are standard part names, else palette colours."""
    if all(p in PART_COLOURS for p in parts):
        return {p: PART_COLOURS[p] for p in parts}
    return {p: PALETTE[i % len(PALETTE)] for i, p in enumerate(parts)}


def _grouping(grouping: GroupingSpec) -> PartGrouping:
    return grouping if isinstance(grouping, PartGrouping) else get_grouping(grouping)


def part_colours(grouping: GroupingSpec = "5") -> dict[str, str]:
    """Part name -> colour: the fixed colours where the name is known, else the palette."""
    g = _grouping(grouping)
    if len(g) > len(PART_COLOURS) or any(n not in PART_COLOURS for n in g.part_names):
        return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(g.part_names)}
    return {name: PART_COLOURS[name] for name in g.part_names}


def bones_by_part(grouping: GroupingSpec = "5") -> dict[str, list[tuple[int, int]]]:
    """Part name -> the bones ``(parent, child)`` drawn in its colour (a bone goes with its child)."""
    g = _grouping(grouping)
    owner = g.part_of_joint()
    out: dict[str, list[tuple[int, int]]] = {name: [] for name in g.part_names}
    for parent, child in BONES:
        out[owner[child]].append((parent, child))
    return out


def to_display(joints_mm: np.ndarray) -> np.ndarray:
    """Camera space ``(X right, Y down, Z forward)`` -> plotly's Z-up display ``(X, Z, -Y)``."""
    j = np.asarray(joints_mm, dtype=np.float64)
    return np.stack([j[..., 0], j[..., 2], -j[..., 1]], axis=-1)


def _check_joints(joints_mm: np.ndarray, what: str = "joints_mm") -> np.ndarray:
    j = np.asarray(joints_mm, dtype=np.float64)
    if j.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"{what} has shape {j.shape}; expected (..., {NUM_JOINTS}, 3) camera-space mm")
    return j


def skeleton_traces(joints_mm: np.ndarray, grouping: GroupingSpec = "5", name: str = "", *,
                    colour: str | None = None, dash: str | None = None, width: float = 7.0,
                    marker_size: float = 3.5, opacity: float = 1.0, showlegend: bool = True,
                    legendgroup: str | None = None, hover_extra: Sequence[str] | None = None) -> list[go.Scatter3d]:
    """One ``Scatter3d`` per part: its bones as line segments, its joints as markers.

    Segments are ``[a, b, None]`` triples, so the number of ``None`` in a trace's ``x`` is its
    number of bones (16 over all parts).  ``colour`` overrides the part colours (e.g. grey for
    the ground truth); ``hover_extra`` adds a line per joint to the hover text.
    """
    j = to_display(_check_joints(joints_mm))
    g = _grouping(grouping)
    colours = part_colours(g)
    part_bones = bones_by_part(g)
    traces = []
    for part, joints in g.parts:
        bones = part_bones[part]
        pts: list[int | None] = []
        for a, b in bones:
            pts += [a, b, None]
        if not bones:  # a part without bones (the pelvis alone in the 17-part grouping)
            pts = [joints[0], None]
        xyz = [[None] * 3 if k is None else j[k].tolist() for k in pts]
        text = [None if k is None else JOINT_NAMES[k] + (f"<br>{hover_extra[k]}" if hover_extra else "") for k in pts]
        c = colour or colours[part]
        label = f"{name} {part}".strip()
        traces.append(go.Scatter3d(
            x=[p[0] for p in xyz], y=[p[1] for p in xyz], z=[p[2] for p in xyz],
            mode="lines+markers", name=label, legendgroup=legendgroup or label, showlegend=showlegend,
            line=dict(color=c, width=width, dash=dash), marker=dict(color=c, size=marker_size),
            opacity=opacity, text=text, hovertemplate="%{text}<extra>" + label + "</extra>",
        ))
    return traces


def camera_frustum_trace(intrinsics: Sequence[float], image_wh: tuple[int, int], depth_mm: float = 1500.0,
                         colour: str = "#888888", name: str = "camera") -> go.Scatter3d:
    """The viewing pyramid of a pinhole camera at the origin of camera space.

    ``intrinsics = (fx, fy, cx, cy)`` px; the four image corners are back-projected to depth
    ``depth_mm``: ``X = (u - cx) / fx * Z``, ``Y = (v - cy) / fy * Z``.  Everything the camera
    sees lies inside the pyramid.
    """
    fx, fy, cx, cy = (float(v) for v in intrinsics)
    w, h = image_wh
    corners = [np.array([(u - cx) / fx * depth_mm, (v - cy) / fy * depth_mm, depth_mm])
               for u, v in ((0, 0), (w, 0), (w, h), (0, h))]
    origin = np.zeros(3)
    path: list[np.ndarray | None] = []
    for c in corners:
        path += [origin, c, None]
    path += [corners[0], corners[1], corners[2], corners[3], corners[0]]
    pts = [None if p is None else to_display(p) for p in path]
    return go.Scatter3d(
        x=[None if p is None else p[0] for p in pts], y=[None if p is None else p[1] for p in pts],
        z=[None if p is None else p[2] for p in pts], mode="lines", name=name,
        line=dict(color=colour, width=3), hoverinfo="skip",
    )


#: Where the default view looks from: the camera's side, a little above and to the right,
#: far enough back (distance ~2.4 in plotly's units of the scene box) that a raised arm or the
#: head near the box's edge stays inside the picture whatever the aspect of the box.
VIEW_EYE = dict(x=0.45, y=-2.3, z=0.55)


def scene_points(fig: go.Figure, scene: str = "scene") -> np.ndarray:
    """Every 3D point drawn in ``scene`` (display coordinates), ``(N, 3)``; the ``None`` gaps of
    line segments are skipped."""
    pts = []
    for tr in fig.data:
        if tr.type != "scatter3d" or (tr.scene or "scene") != scene or tr.x is None:
            continue
        for x, y, z in zip(tr.x, tr.y, tr.z):
            if x is not None and y is not None and z is not None:
                pts.append((x, y, z))
    return np.asarray(pts, dtype=np.float64).reshape(-1, 3)


def frame_scene(fig: go.Figure, scene: str = "scene", margin: float = 0.12, min_span_mm: float = 300.0) -> go.Figure:
    """Fix ``scene``'s axis ranges to everything drawn in it plus ``margin`` of the largest extent
    on every side, with true proportions (the box's aspect ratio follows the ranges): no joint
    touches the box's edge, so none is cut off, and the axes keep their ticks in view.
    Axes thinner than ``min_span_mm`` (a person seen edge-on) get that width."""
    pts = scene_points(fig, scene)
    if not len(pts):
        return fig
    lo, hi = pts.min(0), pts.max(0)
    span = np.maximum(hi - lo, min_span_mm)
    centre = (lo + hi) / 2
    pad = margin * span.max()
    half = span / 2 + pad
    ratio = half / half.max()
    fig.update_layout(**{scene: dict(
        xaxis=dict(range=[centre[0] - half[0], centre[0] + half[0]]),
        yaxis=dict(range=[centre[1] - half[1], centre[1] + half[1]]),
        zaxis=dict(range=[centre[2] - half[2], centre[2] + half[2]]),
        aspectmode="manual", aspectratio=dict(x=ratio[0], y=ratio[1], z=ratio[2]),
    )})
    return fig


def style_scene(fig: go.Figure, scene: str = "scene", title_axes: bool = True) -> go.Figure:
    """True proportions, framed on what is drawn (:func:`frame_scene`), a view from the camera's
    side, axes named in camera terms with fonts that stay readable in a notebook cell."""
    titles = ("X right (mm)", "Z depth (mm)", "−Y up (mm)") if title_axes else ("", "", "")
    axis = dict(title_font=dict(size=12), tickfont=dict(size=10), nticks=5)
    fig.update_layout(**{scene: dict(
        camera=dict(eye=VIEW_EYE, up=dict(x=0, y=0, z=1)),
        xaxis=dict(title_text=titles[0], **axis), yaxis=dict(title_text=titles[1], **axis),
        zaxis=dict(title_text=titles[2], **axis),
    )})
    return frame_scene(fig, scene)


def skeleton_figure(joints_mm: np.ndarray, grouping: GroupingSpec = "5", title: str | None = None,
                    names: Sequence[str] | None = None, root_relative: bool = False,
                    height: int = 500) -> go.Figure:
    """One skeleton ``(17, 3)`` or several ``(N, 17, 3)`` in one scene, coloured by part.

    With several people the legend lists the parts once and clicking a part hides it on all
    of them.  ``root_relative`` moves every pelvis to the origin (how the metrics see poses).
    """
    j = _check_joints(joints_mm)
    people = j[None] if j.ndim == 2 else j
    if root_relative:
        people = people - people[:, :1]
    names = list(names) if names is not None else [f"person {i}" for i in range(len(people))]
    fig = go.Figure()
    for i, person in enumerate(people):
        for tr in skeleton_traces(person, grouping, name="", showlegend=(i == 0)):
            part = tr.name
            tr.update(legendgroup=part, hovertemplate="%{text}<extra>" + f"{names[i]}: {part}</extra>")
            fig.add_trace(tr)
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10),
                      legend=dict(itemsizing="constant"))
    return style_scene(fig)


def compare_figure(gt_mm: np.ndarray, pred_mm: np.ndarray, grouping: GroupingSpec = "5", title: str | None = None,
                   root_relative: bool = True, height: int = 500) -> go.Figure:
    """Ground truth (grey) and prediction (part colours) of one sample, with a dotted error
    segment from every true joint to its prediction; hover shows each joint's error.

    ``root_relative`` aligns the pelvises first -- exactly what MPJPE measures.
    """
    gt, pred = _check_joints(gt_mm, "gt_mm"), _check_joints(pred_mm, "pred_mm")
    if root_relative:
        gt, pred = gt - gt[:1], pred - pred[:1]
    err = np.linalg.norm(pred - gt, axis=-1)
    fig = go.Figure()
    for tr in skeleton_traces(gt, grouping, "GT", colour=GT_COLOUR, width=9, opacity=0.45, legendgroup="GT"):
        fig.add_trace(tr)
    for i, tr in enumerate(fig.data):
        tr.update(showlegend=(i == 0), name="ground truth")
    extra = [f"error {e:.0f} mm" for e in err]
    for tr in skeleton_traces(pred, grouping, "pred", hover_extra=extra):
        fig.add_trace(tr)
    seg: list[np.ndarray | None] = []
    for a, b in zip(to_display(gt), to_display(pred)):
        seg += [a, b, None]
    fig.add_trace(go.Scatter3d(
        x=[None if p is None else p[0] for p in seg], y=[None if p is None else p[1] for p in seg],
        z=[None if p is None else p[2] for p in seg], mode="lines", name="error",
        line=dict(color="#000000", width=2, dash="dot"), hoverinfo="skip",
    ))
    default = f"MPJPE {err.mean():.0f} mm (grey: ground truth)"
    fig.update_layout(title=title or default, height=height, margin=dict(l=10, r=10, t=40, b=10))
    return style_scene(fig)


def scene_figure(people_mm: np.ndarray, intrinsics: Sequence[float] | None = None,
                 image_wh: tuple[int, int] | None = None, grouping: GroupingSpec = "5",
                 names: Sequence[str] | None = None, title: str | None = None,
                 predictions_mm: np.ndarray | None = None, frustum_depth_mm: float | None = None,
                 height: int = 550) -> go.Figure:
    """Several people where they really are in camera space, with the camera's frustum.

    ``predictions_mm`` (same shape as ``people_mm``) adds each person's prediction in dashed
    part colours next to the grey ground truth.
    """
    people = _check_joints(people_mm)
    people = people[None] if people.ndim == 2 else people
    names = list(names) if names is not None else [f"person {i}" for i in range(len(people))]
    fig = go.Figure()
    if intrinsics is not None and image_wh is not None:
        depth = frustum_depth_mm or float(people[..., 2].max() * 1.1)
        fig.add_trace(camera_frustum_trace(intrinsics, image_wh, depth))
    for i, person in enumerate(people):
        if predictions_mm is None:
            for tr in skeleton_traces(person, grouping, showlegend=(i == 0)):
                part = tr.name
                tr.update(legendgroup=part, hovertemplate="%{text}<extra>" + f"{names[i]}: {part}</extra>")
                fig.add_trace(tr)
        else:
            gt_traces = skeleton_traces(person, grouping, colour=GT_COLOUR, opacity=0.45, width=9,
                                        showlegend=False, legendgroup="GT")
            for k, tr in enumerate(gt_traces):
                tr.update(name="ground truth", showlegend=(i == 0 and k == 0))
                fig.add_trace(tr)
            pred = _check_joints(np.asarray(predictions_mm)[i], "predictions_mm")
            for tr in skeleton_traces(pred, grouping, showlegend=(i == 0)):
                part = tr.name
                tr.update(legendgroup=part, hovertemplate="%{text}<extra>" + f"{names[i]} (pred): {part}</extra>")
                fig.add_trace(tr)
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10))
    style_scene(fig)
    fig.update_layout(scene_camera=dict(eye=dict(x=-1.4, y=-1.85, z=1.05)))  # above and behind the camera
    return fig


def _image_panel(fig: go.Figure, image: np.ndarray, uv_crop: np.ndarray, grouping: PartGrouping,
                 row: int = 1, col: int = 1) -> None:
    fig.add_trace(go.Image(z=image, hoverinfo="skip"), row=row, col=col)
    colours = part_colours(grouping)
    for part, bones in bones_by_part(grouping).items():
        xs: list[float | None] = []
        ys: list[float | None] = []
        for a, b in bones:
            xs += [uv_crop[a, 0], uv_crop[b, 0], None]
            ys += [uv_crop[a, 1], uv_crop[b, 1], None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", line=dict(color=colours[part], width=2),
                                 marker=dict(size=4), showlegend=False, hoverinfo="skip"), row=row, col=col)


def sample_figure(arrays: SampleArrays, index: int, pred_mm: np.ndarray | None = None,
                  grouping: GroupingSpec = "5", show_2d: bool = True, height: int = 430) -> go.Figure:
    """One sample: its image crop (with the 2D joints drawn by part) beside its 3D skeleton.

    Without ``pred_mm`` the right panel is the ground-truth skeleton coloured by part; with
    ``pred_mm`` (``(N, 17, 3)`` for all samples) it is :func:`compare_figure`'s overlay.
    """
    g = _grouping(grouping)
    i = int(index)
    if not 0 <= i < len(arrays):
        raise IndexError(f"sample index {i} is out of range for {len(arrays)} samples")
    meta = arrays.meta[i] if arrays.meta else {}
    gt = arrays.joints_3d[i].astype(np.float64)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.38, 0.62],
                        specs=[[{"type": "xy"}, {"type": "scene"}]])
    uv = image_to_crop(arrays.joints_2d[i].astype(np.float64), arrays.bbox[i], arrays.image_size)
    if show_2d:
        _image_panel(fig, arrays.images[i], uv, g)
    else:
        fig.add_trace(go.Image(z=arrays.images[i], hoverinfo="skip"), row=1, col=1)
    if pred_mm is None:
        three_d = skeleton_figure(gt, g, root_relative=True)
        subtitle = ""
    else:
        three_d = compare_figure(gt, np.asarray(pred_mm)[i], g)
        err = np.linalg.norm((pred_mm[i] - pred_mm[i][:1]) - (gt - gt[:1]), axis=-1).mean()
        subtitle = f" | MPJPE {err:.0f} mm"
    for tr in three_d.data:
        fig.add_trace(tr, row=1, col=2)
    size = arrays.image_size
    fig.update_xaxes(range=[-0.5, size - 0.5], visible=False, row=1, col=1)
    fig.update_yaxes(range=[size - 0.5, -0.5], visible=False, scaleanchor="x", row=1, col=1)
    title = f"sample {i}: {meta.get('action', '')}, root depth {arrays.root_depth[i] / 1000:.1f} m{subtitle}"
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10))
    return style_scene(fig)


def title_of(fig: go.Figure) -> str:
    return str(fig.layout.title.text or "plotly figure")


def interactive_samples(arrays: SampleArrays, pred_mm: np.ndarray | None = None, grouping: GroupingSpec = "5",
                        order: Sequence[int] | None = None, description: str = "sample") -> Any:
    """An ipywidgets slider over samples; each step shows :func:`sample_figure`.

    ``order`` lists the sample indices the slider walks through (e.g. worst errors first);
    by default all samples in order.  Returns the widget (display it, or leave it as a cell's
    last expression).  Needs a live kernel: a saved or exported notebook shows only the
    first figure's static fallback, so notebooks also display one :func:`sample_figure`.
    """
    import ipywidgets as widgets
    import plotly.io as pio

    idx = list(range(len(arrays))) if order is None else [int(i) for i in order]
    if not idx:
        raise ValueError("interactive_samples: no samples to show")
    slider = widgets.IntSlider(value=0, min=0, max=len(idx) - 1, step=1, description=description,
                               continuous_update=False, layout=widgets.Layout(width="60%"))
    label = widgets.HTML()
    out = widgets.Output()

    def show(step: int) -> None:
        i = idx[step]
        label.value = f"&nbsp;index {i} ({step + 1} of {len(idx)})"
        # Set the Output widget's outputs directly (rather than `with out: display(fig)`): the
        # same picture in JupyterLab, but no output capture, which headless runs (papermill,
        # nbval) can stall on; the plotly mimetype needs no per-call renderer activation.
        fig = sample_figure(arrays, i, pred_mm, grouping)
        bundle = {**pio.renderers["plotly_mimetype"].to_mimebundle(fig.to_dict()), "text/plain": title_of(fig)}
        out.outputs = ({"output_type": "display_data", "data": bundle, "metadata": {}},)

    slider.observe(lambda change: show(change["new"]), names="value")
    show(0)
    return widgets.VBox([widgets.HBox([slider, label]), out])


__all__ = [
    "GT_COLOUR", "PALETTE", "PART_COLOURS", "bones_by_part", "camera_frustum_trace", "compare_figure",
    "interactive_samples", "part_colours", "sample_figure", "scene_figure", "skeleton_figure",
    "skeleton_traces", "style_scene", "to_display", "frame_scene", "scene_points",
]
