"""Detector boxes and root depths in the ``bbox_root_*.json`` format (docs/formats.md).

3DMPPE publishes, per dataset, the output of its person detector and of RootNet as one JSON
list: ``[{"image_id": 12, "bbox": [x, y, w, h], "root_cam": [X, Y, Z], "score": 0.99}, ...]``
(``bbox_root_human36m_output.json``, ``bbox_root_mupots_output.json``).  :func:`read_bbox_root`
is the one reader of that format: the Human3.6M loader takes its boxes, the MuPoTS-3D loader
and the multi-person evaluation its boxes and root depths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from partnas_lib.io import DataFormatError, as_array, read_json, require


def read_bbox_root(path: str | Path, what: str = "bbox_root file",
                   need_root: bool = False) -> dict[int, list[dict[str, Any]]]:
    """The detections of ``path`` grouped by image: ``{image_id: [{bbox, root_cam, score}, ...]}``.

    ``bbox`` is a ``(4,)`` array ``[x, y, w, h]`` (px); ``root_cam`` a ``(3,)`` array (camera mm),
    or ``None`` where an entry has none (``need_root=True`` makes it a required field);
    ``score`` defaults to 1.  ``what`` names the file in error messages ("detector boxes file").
    Detections of one image keep their order in the file.
    """
    path = Path(path)
    entries = read_json(path, what)
    if not isinstance(entries, list):
        raise DataFormatError(f"{path}: top level must be a list of {{image_id, bbox, root_cam, score}}")
    out: dict[int, list[dict[str, Any]]] = {}
    for i, e in enumerate(entries):
        w = f"[{i}]"
        image_id = int(require(e, "image_id", path, w))
        bbox = as_array(require(e, "bbox", path, w), (4,), path, f"{w}.bbox")
        root_cam = require(e, "root_cam", path, w) if need_root else e.get("root_cam")
        out.setdefault(image_id, []).append({
            "bbox": bbox,
            "root_cam": None if root_cam is None else as_array(root_cam, (3,), path, f"{w}.root_cam"),
            "score": float(e.get("score", 1.0)),
        })
    return out


__all__ = ["read_bbox_root"]
