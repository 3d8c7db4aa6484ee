"""MuPoTS-3D, Moon's preprocessed JSON: ``MuPoTS-3D.json`` with the frames under
``MultiPersonTestSet/``.

``images`` carry ``intrinsic`` [fx, fy, cx, cy] (so nothing needs estimating, unlike the
original release) and ``annotations`` carry ``keypoints_img``, ``keypoints_cam``,
``keypoints_vis``, ``bbox`` and ``is_valid``, joints in MuPoTS order.  ``image_id`` is Moon's.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from partnas_lib.data.datasets.mupots_facts import H36M_FROM_MUPOTS, mupots_to_h36m, sample_meta
from partnas_lib.data.images import DEFAULT_IMAGE_SIZE, SampleCollector, process_bbox, progress_bar, tight_bbox
from partnas_lib.data.sample import SampleArrays
from partnas_lib.io import DataFormatError, as_array, read_json, require
from partnas_lib.skeleton import NUM_JOINTS

_FILE_RE = re.compile(r"(TS\d+)/img_(\d+)\.jpg$")


def _json_images(data: Any, path: Path) -> dict[int, dict[str, Any]]:
    images = require(data, "images", path, "top level")
    if not isinstance(images, list):
        raise DataFormatError(f"{path}: field 'images' must be a list")
    out = {}
    for i, img in enumerate(images):
        where = f"images[{i}]"
        name = str(require(img, "file_name", path, where))
        m = _FILE_RE.search(name)
        if not m:
            raise DataFormatError(f"{path}: field {where}.file_name is {name!r}, expected 'TS<n>/img_<frame>.jpg'")
        out[int(require(img, "id", path, where))] = {
            "where": where, "file_name": name, "sequence": m.group(1), "frame": int(m.group(2)),
            "width": int(require(img, "width", path, where)), "height": int(require(img, "height", path, where)),
            "intrinsic": as_array(require(img, "intrinsic", path, where), (4,), path, f"{where}.intrinsic"),
        }
    return out


def load_mupots_json(root: str | Path, sequences: Sequence[str] | None = None, *,
                     image_size: int = DEFAULT_IMAGE_SIZE, with_images: bool = True, valid_only: bool = True,
                     progress: bool = False) -> SampleArrays:
    """Load Moon's ``root/MuPoTS-3D.json`` with frames under ``root/MultiPersonTestSet``."""
    root = Path(root)
    path = root / "MuPoTS-3D.json"
    data = read_json(path, "MuPoTS-3D annotation file")
    images = _json_images(data, path)
    annotations = require(data, "annotations", path, "top level")
    if not isinstance(annotations, list):
        raise DataFormatError(f"{path}: field 'annotations' must be a list")
    out = SampleCollector(image_size, with_images)
    person_count: dict[int, int] = {}
    wanted = set(sequences) if sequences is not None else None
    for i, ann in enumerate(progress_bar(annotations, progress, "MuPoTS-3D")):
        where = f"annotations[{i}]"
        image_id = int(require(ann, "image_id", path, where))
        if image_id not in images:
            raise DataFormatError(f"{path}: field {where}.image_id = {image_id} matches no entry of 'images'")
        img = images[image_id]
        person = person_count.get(image_id, 0)
        person_count[image_id] = person + 1
        valid = bool(ann.get("is_valid", 1))
        if (valid_only and not valid) or (wanted is not None and img["sequence"] not in wanted):
            continue
        kp_img = np.asarray(require(ann, "keypoints_img", path, where), dtype=np.float64)
        if kp_img.ndim == 2 and kp_img.shape[1] == 3:
            kp_img = kp_img[:, :2]
        uv = mupots_to_h36m(as_array(kp_img, (NUM_JOINTS, 2), path, f"{where}.keypoints_img"))
        X = mupots_to_h36m(as_array(require(ann, "keypoints_cam", path, where), (NUM_JOINTS, 3), path,
                                    f"{where}.keypoints_cam"))
        vis = as_array(ann.get("keypoints_vis", [1] * NUM_JOINTS), (NUM_JOINTS,), path,
                       f"{where}.keypoints_vis", dtype=float)[list(H36M_FROM_MUPOTS)] > 0
        box = ann.get("bbox")
        box = tight_bbox(uv) if box is None else as_array(box, (4,), path, f"{where}.bbox")
        out.add(
            joints_2d=uv, joints_3d=X, joints_vis=vis, intrinsics=img["intrinsic"],
            bbox=process_bbox(box, img["width"], img["height"]),
            image_path=root / "MultiPersonTestSet" / img["file_name"],
            image_where=f"{img['where']}.file_name in {path}",
            meta=sample_meta("json", img["sequence"], img["frame"], person, image_id, valid,
                       intrinsics_source="MuPoTS-3D.json images[].intrinsic"),
        )
    return out.arrays(f"{path}: no MuPoTS-3D people found for sequences {sequences or 'all'}")


__all__ = ["load_mupots_json"]
