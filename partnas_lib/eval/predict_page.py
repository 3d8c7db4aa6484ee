"""``predictions.html``: one self-contained page of ``partnas predict``'s poses, for any browser, offline.

For the chosen frame the page shows the image with the predicted 2D skeleton, the person box and
the square crop box, beside the root-relative 3D skeleton (plotly; drag to turn it).  A slider
(or the arrow keys) steps through the frames.

How it stays self-contained and small:

* plotly.js (about 4.8 MB) is embedded once, inline -- never loaded from a CDN -- so the page
  works without a network, e.g. on a cluster node or attached to a report;
* every frame is two plotly figures stored as JSON in the page; one 2D and one 3D plot are
  redrawn with ``Plotly.react`` when the frame changes.  One 3D plot for all frames matters:
  browsers keep only about 16 WebGL contexts alive, one per 3D plot;
* frames are shrunk to :data:`THUMBNAIL_PX` pixels (JPEG) and the page holds at most
  :data:`MAX_PAGE_FRAMES` of them, saying so; ``predictions.json`` / ``.npz`` hold every frame.

The figures are plain plotly JSON (``{"data": [...], "layout": {...}}``, plotly.js's own schema),
built without plotly's Python objects, which take seconds to import; plotly (Python, optional:
``pip install 'partnas[notebooks]'``) only supplies the plotly.js bundle.

The display follows :mod:`partnas_lib.viz.skeleton3d`: camera space ``(X, Y, Z)`` is drawn as
``(X, Z, -Y)`` so people stand upright, and bones take the colour of their child joint's part
(5-part grouping; right limbs warm, left limbs cool, torso green).  The colours are repeated here
rather than imported because the command line may not import ``viz`` (docs/architecture.md,
"Layers"); this module sits in ``eval`` next to the other report the CLI prints
(:mod:`partnas_lib.eval.multi_report`).
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from partnas_lib.eval.predict import Prediction
from partnas_lib.io import atomic_write_text, to_jsonable
from partnas_lib.skeleton import BONES, JOINT_NAMES, get_grouping

#: Frames the page holds at most, and the longest side (px) of each frame's picture.
MAX_PAGE_FRAMES = 60
THUMBNAIL_PX = 320
#: Colours of the 5 parts (the same as :data:`partnas_lib.viz.skeleton3d.PART_COLOURS`).
PART_COLOURS: dict[str, str] = {"torso_head": "#2ca02c", "right_arm": "#d62728", "right_leg": "#ff7f0e",
                                "left_arm": "#1f77b4", "left_leg": "#17becf"}
#: Half the side (mm) of the cube the 3D skeleton is drawn in, the same for every frame.
CUBE_HALF_MM = 1100.0


def require_plotly() -> None:
    """Fail early, with the install command, when plotly is missing."""
    try:
        import plotly  # noqa: F401  (optional dependency: the 'notebooks' extra)
    except ImportError:
        raise RuntimeError("writing predictions.html needs plotly; pip install 'partnas[notebooks]'") from None


def _bones_by_part() -> list[tuple[str, list[tuple[int, int]]]]:
    owner = get_grouping("5").part_of_joint()
    parts: dict[str, list[tuple[int, int]]] = {name: [] for name in PART_COLOURS}
    for parent, child in BONES:
        parts[owner[child]].append((parent, child))
    return list(parts.items())


def _segments(points: np.ndarray, bones: list[tuple[int, int]]) -> tuple[list[Any], list[str | None]]:
    """Bones as ``[a, b, None]`` runs of points (one plotly line per part) and hover names."""
    xyz: list[Any] = []
    names: list[str | None] = []
    for a, b in bones:
        xyz += [points[a].tolist(), points[b].tolist(), [None] * points.shape[1]]
        names += [JOINT_NAMES[a], JOINT_NAMES[b], None]
    return xyz, names


def _jpeg_uri(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _box_trace(box: np.ndarray, name: str, dash: str) -> dict[str, Any]:
    x, y, w, h = (float(v) for v in box)
    return {"type": "scatter", "x": [x, x + w, x + w, x, x], "y": [y, y, y + h, y + h, y], "mode": "lines",
            "name": name, "line": {"color": "#ffffff", "width": 1.5, "dash": dash}, "hoverinfo": "name"}


def image_figure(pred: Prediction, i: int) -> dict[str, Any]:
    """Frame ``i`` as a plotly figure (JSON): its picture (the shrunk frame, else the crop), the
    2D skeleton, the person box and the crop box, in pixels of the frame."""
    width, height = (int(v) for v in pred.image_wh[i])
    picture = pred.thumbnails[i] if i < len(pred.thumbnails) else None
    if picture is not None:
        x0, y0, sx, sy = 0.0, 0.0, float(width), float(height)
    else:  # no shrunk frame kept: show what the network saw, where it was cut from
        picture = pred.crops[i]
        x0, y0, sx, sy = (float(v) for v in pred.crop_boxes[i])
    traces = [_box_trace(pred.crop_boxes[i], "crop box", "dot")]
    if pred.box_sources[i] != "whole frame":
        traces.append(_box_trace(pred.boxes[i], "person box", "solid"))
    for part, bones in _bones_by_part():
        xy, names = _segments(np.asarray(pred.joints_2d[i], np.float64), bones)
        traces.append({"type": "scatter", "x": [p[0] for p in xy], "y": [p[1] for p in xy], "mode": "lines+markers",
                       "name": part, "text": names, "hovertemplate": "%{text}<extra></extra>",
                       "line": {"color": PART_COLOURS[part], "width": 3}, "marker": {"size": 5}})
    lo = np.minimum([0.0, 0.0], pred.crop_boxes[i][:2])
    hi = np.maximum([width, height], pred.crop_boxes[i][:2] + pred.crop_boxes[i][2:])
    layout = {
        "images": [{"source": _jpeg_uri(picture), "xref": "x", "yref": "y", "x": x0, "y": y0, "sizex": sx,
                    "sizey": sy, "sizing": "stretch", "layer": "below", "xanchor": "left", "yanchor": "top"}],
        "xaxis": {"range": [float(lo[0]), float(hi[0])], "showgrid": False, "zeroline": False, "constrain": "domain"},
        "yaxis": {"range": [float(hi[1]), float(lo[1])], "showgrid": False, "zeroline": False, "scaleanchor": "x"},
        "margin": {"l": 10, "r": 10, "t": 30, "b": 10}, "showlegend": False, "plot_bgcolor": "#222222",
        "title": {"text": f"{width} x {height} px, box: {html.escape(pred.box_sources[i])}", "font": {"size": 12}},
        "uirevision": "image",
    }
    return {"data": traces, "layout": layout}


def skeleton_figure(pred: Prediction, i: int) -> dict[str, Any]:
    """Frame ``i``'s root-relative 3D skeleton as a plotly figure (JSON), upright in a fixed cube."""
    j = np.asarray(pred.joints_rel_mm[i], dtype=np.float64)
    display = np.stack([j[:, 0], j[:, 2], -j[:, 1]], axis=-1)
    traces = []
    for part, bones in _bones_by_part():
        xyz, names = _segments(display, bones)
        traces.append({"type": "scatter3d", "x": [p[0] for p in xyz], "y": [p[1] for p in xyz],
                       "z": [p[2] for p in xyz], "mode": "lines+markers", "name": part, "text": names,
                       "hovertemplate": "%{text}<extra></extra>", "line": {"color": PART_COLOURS[part], "width": 7},
                       "marker": {"size": 3}})
    r = [-CUBE_HALF_MM, CUBE_HALF_MM]
    layout = {
        "scene": {"xaxis": {"title": {"text": "X right (mm)"}, "range": r},
                  "yaxis": {"title": {"text": "Z depth (mm)"}, "range": r},
                  "zaxis": {"title": {"text": "up (mm)"}, "range": r}, "aspectmode": "cube",
                  "camera": {"eye": {"x": 0.0, "y": -2.0, "z": 0.4}}},
        "margin": {"l": 0, "r": 0, "t": 30, "b": 0}, "showlegend": False, "uirevision": "skeleton",
        "title": {"text": f"root-relative, root depth {pred.root_depth_mm[i] / 1000:.2f} m ({pred.root_source})",
                  "font": {"size": 12}},
    }
    return {"data": traces, "layout": layout}


def _frame_label(pred: Prediction, i: int) -> str:
    """``"3/40: clip.mp4, frame 2"`` (the frame only for files with several, i.e. videos)."""
    several = pred.frames[i] > 0 or pred.sources.count(pred.sources[i]) > 1
    return f"{i + 1}/{len(pred)}: {Path(pred.sources[i]).name}" + (f", frame {int(pred.frames[i])}" if several else "")


def page_html(pred: Prediction, max_frames: int = MAX_PAGE_FRAMES) -> str:
    """The whole page as one string (plotly.js inline, every shown frame's figures as JSON)."""
    require_plotly()
    from plotly.offline import get_plotlyjs  # optional dependency: the 'notebooks' extra

    shown = min(len(pred), max_frames)
    frames = [{"label": _frame_label(pred, i), "image": image_figure(pred, i), "skeleton": skeleton_figure(pred, i)}
              for i in range(shown)]
    data = json.dumps(to_jsonable(frames)).replace("</", "<\\/")  # JSON inside <script>: never close the tag
    note = "" if shown == len(pred) else (
        f"<p class='note'>The page shows the first {shown} of {len(pred)} frames, to stay small; "
        "predictions.json and predictions.npz hold every frame.</p>")
    absolute = "reported" if pred.joints_abs_mm is not None else "not reported (needs a RootNet and a given camera)"
    facts = "".join(f"<li><b>{k}</b>: {html.escape(str(v))}</li>" for k, v in [
        ("run", pred.run), ("frames", len(pred)), ("root depth", pred.root_text), ("camera", pred.camera_text),
        ("absolute joints", absolute), ("flip test", pred.flip_test)])
    return _TEMPLATE.format(plotly=get_plotlyjs(), facts=facts, note=note, last=shown - 1, data=data)


def write_page(pred: Prediction, path: str | Path, max_frames: int = MAX_PAGE_FRAMES) -> Path:
    """Write :func:`page_html` to ``path`` atomically."""
    path = Path(path)
    atomic_write_text(path, page_html(pred, max_frames))
    return path


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>partnas predict</title>
<script type="text/javascript">{plotly}</script>
<style>
body {{ font-family: sans-serif; margin: 1em 2em; color: #222; }}
.row {{ display: flex; flex-wrap: wrap; gap: 1em; }}
.panel {{ flex: 1 1 420px; height: 480px; min-width: 320px; }}
.controls {{ display: flex; align-items: center; gap: 0.6em; margin: 0.8em 0; }}
#partnas-slider {{ flex: 1; max-width: 40em; }}
.note {{ color: #a33; }}
ul {{ font-size: 0.9em; }}
</style>
</head>
<body>
<h2>partnas predict: 3D human poses</h2>
<ul>{facts}</ul>
{note}
<div class="controls">
<button id="partnas-prev" type="button">&#9664;</button>
<input id="partnas-slider" type="range" min="0" max="{last}" value="0" step="1">
<button id="partnas-next" type="button">&#9654;</button>
<span id="partnas-label"></span>
</div>
<div class="row"><div id="partnas-image" class="panel"></div><div id="partnas-skeleton" class="panel"></div></div>
<p>Left: the frame with the predicted 2D joints, the person box (solid) and the square crop the network saw
(dotted).  Right: the root-relative 3D pose in millimetres, camera X to the right, depth into the picture, up
(drag to turn, scroll to zoom).  Arrow keys step through the frames.</p>
<script type="application/json" id="partnas-frames">{data}</script>
<script type="text/javascript">
(function () {{
  var frames = JSON.parse(document.getElementById("partnas-frames").textContent);
  var slider = document.getElementById("partnas-slider");
  var label = document.getElementById("partnas-label");
  var config = {{responsive: true, displaylogo: false}};
  function copy(x) {{ return JSON.parse(JSON.stringify(x)); }}
  function show(i) {{
    i = Math.max(0, Math.min(frames.length - 1, i));
    var f = frames[i];
    Plotly.react("partnas-image", copy(f.image.data), copy(f.image.layout), config);
    Plotly.react("partnas-skeleton", copy(f.skeleton.data), copy(f.skeleton.layout), config);
    label.textContent = f.label;
    slider.value = String(i);
  }}
  slider.addEventListener("input", function () {{ show(Number(slider.value)); }});
  document.getElementById("partnas-prev").addEventListener("click", function () {{ show(Number(slider.value) - 1); }});
  document.getElementById("partnas-next").addEventListener("click", function () {{ show(Number(slider.value) + 1); }});
  document.addEventListener("keydown", function (e) {{
    if (e.target === slider) {{ return; }}  // the slider steps itself
    if (e.key === "ArrowLeft") {{ show(Number(slider.value) - 1); }}
    if (e.key === "ArrowRight") {{ show(Number(slider.value) + 1); }}
  }});
  show(0);
}})();
</script>
</body>
</html>
"""

__all__ = ["MAX_PAGE_FRAMES", "PART_COLOURS", "THUMBNAIL_PX", "image_figure", "page_html", "require_plotly",
           "skeleton_figure", "write_page"]
