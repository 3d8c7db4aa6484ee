"""2D pictures (matplotlib): crops with their joints, the camera image with the crop box.

* :func:`image_grid` -- a grid of sample crops, optionally with the 2D skeleton drawn by part;
* :func:`projection_figure` -- one sample in the *full* camera image: the projected joints,
  the 3DMPPE square crop box around them, and the crop the network actually sees;
* :func:`scene_image_figure` -- a multi-person camera image with every person's box.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from partnas_lib.camera import image_to_crop
from partnas_lib.data.sample import SampleArrays
from partnas_lib.viz.skeleton3d import GroupingSpec, _grouping, bones_by_part, part_colours


def draw_skeleton_2d(ax: plt.Axes, uv: np.ndarray, grouping: GroupingSpec = "5", lw: float = 1.5,
                     marker_size: float = 2.5) -> None:
    """Draw ``(17, 2)`` pixel joints on ``ax``, bones coloured by part."""
    g = _grouping(grouping)
    colours = part_colours(g)
    for part, bones in bones_by_part(g).items():
        for a, b in bones:
            ax.plot(uv[[a, b], 0], uv[[a, b], 1], color=colours[part], lw=lw, marker="o", ms=marker_size)


def image_grid(arrays: SampleArrays, indices: Sequence[int] | None = None, ncols: int = 8,
               skeleton: bool = False, grouping: GroupingSpec = "5", size: float = 1.6) -> Figure:
    """Sample crops in a grid, titled by action; ``skeleton`` overlays the 2D joints by part."""
    idx = list(range(min(len(arrays), 16))) if indices is None else [int(i) for i in indices]
    ncols = max(1, min(ncols, len(idx)))
    nrows = -(-len(idx) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.25) * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    s = arrays.image_size
    for ax, i in zip(axes.ravel(), idx):
        ax.imshow(arrays.images[i])
        if skeleton:
            draw_skeleton_2d(ax, image_to_crop(arrays.joints_2d[i].astype(np.float64), arrays.bbox[i], s), grouping,
                             lw=1.0, marker_size=1.5)
            ax.set_xlim(-0.5, s - 0.5)
            ax.set_ylim(s - 0.5, -0.5)
        ax.set_title(str(arrays.meta[i].get("action", "")) if arrays.meta else str(i), fontsize=8)
    fig.tight_layout()
    return fig


def projection_figure(arrays: SampleArrays, index: int, image_wh: tuple[int, int] = (1000, 1000),
                      grouping: GroupingSpec = "5") -> Figure:
    """Left: the full camera image frame with the projected joints and the square crop box
    (3DMPPE: tight box x 1.25, made square).  Right: the crop, resized to the network input."""
    i = int(index)
    uv = arrays.joints_2d[i].astype(np.float64)
    x, y, w, h = arrays.bbox[i]
    fig, (a0, a1) = plt.subplots(1, 2, figsize=(9, 4.3), gridspec_kw=dict(width_ratios=[1.25, 1]))
    a0.add_patch(Rectangle((0, 0), image_wh[0], image_wh[1], fc="#f4f4f4", ec="k"))
    draw_skeleton_2d(a0, uv, grouping, lw=1.2, marker_size=2)
    a0.add_patch(Rectangle((x, y), w, h, fill=False, ec="#d62728", lw=1.5, ls="--"))
    a0.text(x, y - 8, "crop box", color="#d62728", fontsize=8)
    fx, fy, cx, cy = arrays.intrinsics[i]
    a0.plot([cx], [cy], "k+", ms=10)
    a0.text(cx + 8, cy + 20, "principal point", fontsize=8)
    a0.set_xlim(0, image_wh[0])
    a0.set_ylim(image_wh[1], 0)
    a0.set_aspect("equal")
    a0.set_title(f"camera image ({image_wh[0]} x {image_wh[1]} px), f = {fx:.0f} px")
    a0.set_xlabel("u (px)")
    a0.set_ylabel("v (px)")
    s = arrays.image_size
    a1.imshow(arrays.images[i])
    draw_skeleton_2d(a1, image_to_crop(uv, arrays.bbox[i], s), grouping, lw=1.0, marker_size=1.5)
    a1.set_xlim(-0.5, s - 0.5)
    a1.set_ylim(s - 0.5, -0.5)
    a1.set_title(f"network input: {s} x {s} crop")
    a1.axis("off")
    fig.tight_layout()
    return fig


def scene_image_figure(image: np.ndarray, bboxes: np.ndarray, image_wh: tuple[int, int],
                       labels: Sequence[str] | None = None) -> Figure:
    """A rendered camera image with each person's crop box (boxes given in camera pixels)."""
    side = float(max(image_wh))
    scale = image.shape[1] / side
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.imshow(image)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (x, y, w, h) in enumerate(np.asarray(bboxes, dtype=np.float64)):
        c = colours[k % len(colours)]
        ax.add_patch(Rectangle((x * scale, y * scale), w * scale, h * scale, fill=False, ec=c, lw=1.8))
        ax.text(x * scale + 2, y * scale + 2, labels[k] if labels else f"person {k}", color=c, fontsize=8,
                va="top", bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.8))
    ax.axis("off")
    fig.tight_layout()
    return fig


__all__ = ["draw_skeleton_2d", "image_grid", "projection_figure", "scene_image_figure"]
