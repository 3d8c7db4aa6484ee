"""MPII 2D poses for mixed 3D + 2D training (stacked onto Human3.6M with
:func:`~partnas_lib.data.sample.concat_arrays`).

3DMPPE (and the paper, which follows its recipe) trains on Human3.6M *plus* MPII: in-the-wild
images with 2D joints only.  The 2D samples teach the image side (x, y heatmaps) on varied
people and backgrounds; their depth loss is masked because ``has_3d`` is False (the training
loop multiplies the z term by ``has_3d``).

Layout: 3DMPPE's COCO-style ``annotations/train.json`` (``images``: ``id, file_name, width,
height``; ``annotations``: ``image_id``, ``keypoints`` = 16 x (x, y, v) flattened, ``bbox``) with
frames in ``images/``.  MPII's 16 joints (:data:`MPII_JOINT_NAMES`) map to Human3.6M-17 as
follows (:data:`H36M_FROM_MPII`):

- hips, knees, ankles, shoulders, elbows, wrists: the same joints;
- pelvis (0): MPII's pelvis; where that is not annotated but both hips are, the mid-hips;
- thorax (8): MPII's thorax (Human3.6M's joint 8 sits between the shoulders at the base of the
  neck, as MPII's thorax does; MPII's upper neck lies higher, under the chin);
- head top (10): MPII's head top;
- **missing** in MPII: spine (7) and nose (9).  They get ``joints_vis = False`` (no loss) and a
  filler position (spine: midway pelvis-thorax; nose: midway upper neck-head top) so that
  plots and boxes stay sensible.

MPII has no camera: ``joints_3d`` and ``root_depth`` are zeros, ``has_3d`` is False, and the
intrinsics are nominal (focal :data:`NOMINAL_FOCAL_PX`, principal point at the image centre, the
values 3DMPPE assumes for images without calibration), marked ``meta["intrinsics"] = "nominal"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from partnas_lib.data.images import DEFAULT_IMAGE_SIZE, SampleCollector, process_bbox, progress_bar, tight_bbox
from partnas_lib.data.sample import SampleArrays
from partnas_lib.io import DataFormatError, as_array, read_json, require
from partnas_lib.skeleton import NUM_JOINTS

MPII_JOINT_NAMES: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck",
    "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)
MPII_NUM_JOINTS = len(MPII_JOINT_NAMES)
#: MPII index of each Human3.6M-17 joint, ``None`` where MPII has no such joint.
H36M_FROM_MPII: tuple[int | None, ...] = (6, 2, 1, 0, 3, 4, 5, None, 7, None, 9, 13, 14, 15, 12, 11, 10)
#: Human3.6M-17 joints MPII does not annotate (spine, nose): always ``joints_vis = False``.
MISSING_IN_MPII: tuple[int, ...] = tuple(i for i, m in enumerate(H36M_FROM_MPII) if m is None)
NOMINAL_FOCAL_PX = 1500.0

_MPII = {name: i for i, name in enumerate(MPII_JOINT_NAMES)}


def mpii_to_h36m(keypoints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(16, 3)`` MPII (x, y, v) -> Human3.6M-17 ``(17, 2)`` pixels and ``(17,)`` visibility."""
    kp = np.asarray(keypoints, dtype=np.float64)
    uv_m, vis_m = kp[:, :2], kp[:, 2] > 0
    uv = np.zeros((NUM_JOINTS, 2))
    vis = np.zeros(NUM_JOINTS, bool)
    for h, m in enumerate(H36M_FROM_MPII):
        if m is not None:
            uv[h], vis[h] = uv_m[m], vis_m[m]
    r_hip, l_hip = _MPII["r_hip"], _MPII["l_hip"]
    if not vis[0] and vis_m[r_hip] and vis_m[l_hip]:
        uv[0], vis[0] = (uv_m[r_hip] + uv_m[l_hip]) / 2, True
    uv[7] = (uv[0] + uv[8]) / 2
    uv[9] = (uv_m[_MPII["upper_neck"]] + uv_m[_MPII["head_top"]]) / 2
    vis[list(MISSING_IN_MPII)] = False
    return uv, vis


def _keypoints(value: Any, path: Path, field: str) -> np.ndarray:
    """COCO-style flat ``[x, y, v] * 16`` (or ``16 x 3``) -> ``(16, 3)``; wrong counts name the field."""
    raw = np.asarray(value, dtype=np.float64)
    if raw.ndim == 1 and raw.size % 3 == 0:
        raw = raw.reshape(-1, 3)
    if raw.ndim == 2 and raw.shape[1] == 3 and raw.shape[0] != MPII_NUM_JOINTS:
        raise DataFormatError(f"{path}: field {field} has {raw.shape[0]} joints, expected {MPII_NUM_JOINTS} "
                              "(MPII order, x y v each)")
    return as_array(raw, (MPII_NUM_JOINTS, 3), path, field)


def load_mpii(root: str | Path, split: str = "train", *, image_size: int = DEFAULT_IMAGE_SIZE,
              with_images: bool = True, min_visible: int = 1, progress: bool = False) -> SampleArrays:
    """Load ``root/annotations/{split}.json`` with frames in ``root/images/`` (2D only).

    People with fewer than ``min_visible`` visible Human3.6M-17 joints are skipped.  The crop
    box is the annotation's ``bbox`` (or the box of the visible joints) under 3DMPPE's rule.
    """
    root = Path(root)
    path = root / "annotations" / f"{split}.json"
    data = read_json(path, "MPII annotation file")
    images = require(data, "images", path, "top level")
    annotations = require(data, "annotations", path, "top level")
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise DataFormatError(f"{path}: fields 'images' and 'annotations' must be lists")
    by_id = {int(require(im, "id", path, f"images[{i}]")): (i, im) for i, im in enumerate(images)}
    out = SampleCollector(image_size, with_images)
    for i, ann in enumerate(progress_bar(annotations, progress, "MPII")):
        where = f"annotations[{i}]"
        image_id = int(require(ann, "image_id", path, where))
        if image_id not in by_id:
            raise DataFormatError(f"{path}: field {where}.image_id = {image_id} matches no entry of 'images'")
        k, img = by_id[image_id]
        uv, vis = mpii_to_h36m(_keypoints(require(ann, "keypoints", path, where), path, f"{where}.keypoints"))
        if vis.sum() < max(min_visible, 1):
            continue
        width = int(require(img, "width", path, f"images[{k}]"))
        height = int(require(img, "height", path, f"images[{k}]"))
        box = ann.get("bbox")
        box = tight_bbox(uv[vis]) if box is None else as_array(box, (4,), path, f"{where}.bbox")
        out.add(
            joints_2d=uv, joints_3d=np.zeros((NUM_JOINTS, 3)), joints_vis=vis,
            intrinsics=[NOMINAL_FOCAL_PX, NOMINAL_FOCAL_PX, width / 2.0, height / 2.0],
            bbox=process_bbox(box, width, height), has_3d=False,
            image_path=root / "images" / str(require(img, "file_name", path, f"images[{k}]")),
            image_where=f"images[{k}].file_name in {path}",
            meta={"source": "mpii", "layout": "coco_json", "subject": "mpii", "action": "in_the_wild",
                  "camera": "unknown", "image_id": image_id, "annotation_id": ann.get("id", i),
                  "intrinsics": "nominal"},
        )
    return out.arrays(f"{path}: no MPII person with {min_visible}+ visible joints")


__all__ = ["H36M_FROM_MPII", "MISSING_IN_MPII", "MPII_JOINT_NAMES", "NOMINAL_FOCAL_PX", "load_mpii", "mpii_to_h36m"]
