"""Human3.6M layout 1: the 3DMPPE / I2L-MeshNet release (COCO-style JSON and JPEG frames).

Files per subject ``S``: ``annotations/Human36M_subject{S}_data.json`` (images + boxes),
``_camera.json`` (R, t, f, c per camera) and ``_joint_3d.json`` (world mm), plus the frames
``images/s_SS_act_AA_subact_BB_ca_CC/..._FFFFFF.jpg``.

**The camera convention.**  The two releases disagree on what ``t`` means: 3DMPPE uses
``X_cam = R (X_world - t)`` (``t`` is the camera centre), I2L-MeshNet uses
``X_cam = R X_world + t``.  :func:`load_h36m_3dmppe` tries both on a few frames of every camera
and keeps the one under which every joint lies 2-8 m in front of the camera and projects inside
the image (:func:`fit_convention`); it fails loudly when neither (or both) fit
(:func:`choose_convention`).  ``partnas data check`` reports the same test per subject
(:func:`h36m_3dmppe_conventions`) instead of raising.

The 2D joints are the pinhole projection of the 3D joints (:func:`pinhole`; the layout has no
2D annotation and 3DMPPE ignores lens distortion, which costs at most about 2.5 px).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from partnas_lib.data.datasets.h36m_facts import H36MSelection, sample_meta, subject_key
from partnas_lib.data.detections import read_bbox_root
from partnas_lib.data.images import DEFAULT_IMAGE_SIZE, SampleCollector, process_bbox, progress_bar
from partnas_lib.data.sample import SampleArrays
from partnas_lib.io import DataFormatError, as_array, read_json, require
from partnas_lib.skeleton import NUM_JOINTS

#: The two meanings of ``t`` in layout 1's ``_camera.json``.
CONVENTIONS: dict[str, str] = {
    "3dmppe": "X_cam = R (X_world - t)",
    "i2l": "X_cam = R X_world + t",
}
#: A convention fits when joints lie this deep (mm) in front of the camera...
DEPTH_RANGE_MM: tuple[float, float] = (2000.0, 8000.0)
#: ...and at least this fraction of them project inside the image.
MIN_INSIDE_FRACTION = 0.9


def pinhole(X_cam: np.ndarray, f: Sequence[float], c: Sequence[float]) -> np.ndarray:
    """``u = fx X/Z + cx, v = fy Y/Z + cy`` (no distortion), for points ``(..., 3)``."""
    X_cam = np.asarray(X_cam, dtype=np.float64)
    return X_cam[..., :2] / X_cam[..., 2:3] * np.asarray(f, float) + np.asarray(c, float)


# --------------------------------------------------------------------------------------------
# Camera convention of layout 1
# --------------------------------------------------------------------------------------------

def to_camera(X_world: np.ndarray, R: np.ndarray, t: np.ndarray, convention: str) -> np.ndarray:
    """World points ``(..., 3)`` to camera space under one of :data:`CONVENTIONS`."""
    X_world = np.asarray(X_world, dtype=np.float64)
    if convention == "3dmppe":
        return (X_world - t) @ R.T
    if convention == "i2l":
        return X_world @ R.T + t
    raise ValueError(f"unknown camera convention {convention!r}; expected one of {sorted(CONVENTIONS)}")


@dataclass(frozen=True)
class ConventionFit:
    """How well one convention explains one camera's joints.

    ``depth_fraction``: share of joints with depth inside :data:`DEPTH_RANGE_MM`;
    ``inside_fraction``: share projecting inside the ``width x height`` image.
    """

    convention: str
    depth_fraction: float
    inside_fraction: float
    depth_min_mm: float
    depth_max_mm: float

    @property
    def fits(self) -> bool:
        return self.depth_fraction >= 0.99 and self.inside_fraction >= MIN_INSIDE_FRACTION

    def describe(self) -> str:
        return (f"{CONVENTIONS[self.convention]} puts joints {self.depth_min_mm:.0f}..{self.depth_max_mm:.0f} mm "
                f"deep ({self.depth_fraction:.0%} within {DEPTH_RANGE_MM[0]:.0f}-{DEPTH_RANGE_MM[1]:.0f} mm) "
                f"with {self.inside_fraction:.0%} projecting inside the image")


def fit_convention(X_world: np.ndarray, R: np.ndarray, t: np.ndarray, f: np.ndarray, c: np.ndarray,
                   width: int, height: int, convention: str) -> ConventionFit:
    """Test ``convention`` on world joints ``(N, 17, 3)`` seen by one camera."""
    X = to_camera(X_world, R, t, convention).reshape(-1, 3)
    z = X[:, 2]
    depth_ok = (z > DEPTH_RANGE_MM[0]) & (z < DEPTH_RANGE_MM[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = pinhole(X, f, c)
    inside = (z > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
    return ConventionFit(convention, float(depth_ok.mean()), float(inside.mean()), float(z.min()), float(z.max()))


def choose_convention(fits_per_camera: dict[str, dict[str, ConventionFit]], requested: str,
                      path: Path) -> str:
    """Pick the convention that fits every camera, or raise naming the camera file.

    ``fits_per_camera[cam][convention]``; ``requested`` is ``"auto"`` or a convention name (then
    it is verified, not trusted).
    """
    names = list(CONVENTIONS) if requested == "auto" else [requested]
    if requested != "auto" and requested not in CONVENTIONS:
        raise ValueError(f"camera_convention must be 'auto' or one of {sorted(CONVENTIONS)}, got {requested!r}")
    good = [n for n in names if all(fits[n].fits for fits in fits_per_camera.values())]
    if len(good) == 1:
        return good[0]
    details = "; ".join(
        f"camera {cam}: " + " / ".join(fits[n].describe() for n in names)
        for cam, fits in sorted(fits_per_camera.items())
    )
    if not good and requested == "auto":
        raise DataFormatError(
            f"{path}: fields 'R' and 't' fit neither camera convention "
            f"(3DMPPE: {CONVENTIONS['3dmppe']}; I2L-MeshNet: {CONVENTIONS['i2l']}). {details}. "
            "Expected every joint 2-8 m in front of the camera and inside the image: check that R "
            "is world-to-camera (not its transpose) and that t is in millimetres"
        )
    if not good:
        raise DataFormatError(
            f"{path}: camera_convention={requested!r} ({CONVENTIONS[requested]}) does not fit fields "
            f"'R' and 't': {details}. Try camera_convention='auto'"
        )
    raise DataFormatError(
        f"{path}: both camera conventions fit fields 'R' and 't' ({details}); "
        "pass camera_convention='3dmppe' or 'i2l' explicitly"
    )


# --------------------------------------------------------------------------------------------
# Layout 1: 3DMPPE / I2L-MeshNet
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Image:
    """One entry of ``_data.json``'s ``images`` with its annotation."""

    where: str
    id: int
    file_name: str
    width: int
    height: int
    action_idx: int
    subaction_idx: int
    cam_idx: int
    frame_idx: int
    bbox: np.ndarray
    vis: np.ndarray


@dataclass(frozen=True)
class _CameraEntry:
    R: np.ndarray
    t: np.ndarray
    f: np.ndarray
    c: np.ndarray


def subject_files(root: Path, subject: int) -> dict[str, Path]:
    """The three annotation files of one subject in layout 1."""
    ann = Path(root) / "annotations"
    return {kind: ann / f"Human36M_subject{subject}_{kind}.json" for kind in ("data", "camera", "joint_3d")}


def _parse_images(data: Any, path: Path, subject: int) -> list[_Image]:
    images = require(data, "images", path, "top level")
    annotations = require(data, "annotations", path, "top level")
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise DataFormatError(f"{path}: fields 'images' and 'annotations' must be lists")
    by_image: dict[int, tuple[str, dict]] = {}
    for i, ann in enumerate(annotations):
        by_image[int(require(ann, "image_id", path, f"annotations[{i}]"))] = (f"annotations[{i}]", ann)
    out = []
    for i, img in enumerate(images):
        where = f"images[{i}]"
        fields = {k: require(img, k, path, where) for k in
                  ("id", "file_name", "width", "height", "subject", "action_idx", "subaction_idx", "cam_idx",
                   "frame_idx")}
        if int(fields["subject"]) != subject:
            raise DataFormatError(f"{path}: field {where}.subject is {fields['subject']}, expected {subject}")
        if int(fields["id"]) not in by_image:
            raise DataFormatError(f"{path}: field 'annotations' has no entry with image_id {fields['id']} ({where})")
        awhere, ann = by_image[int(fields["id"])]
        bbox = as_array(require(ann, "bbox", path, awhere), (4,), path, f"{awhere}.bbox")
        vis = as_array(require(ann, "keypoints_vis", path, awhere), (NUM_JOINTS,), path,
                       f"{awhere}.keypoints_vis", dtype=float) > 0
        out.append(_Image(where, int(fields["id"]), str(fields["file_name"]), int(fields["width"]),
                          int(fields["height"]), int(fields["action_idx"]), int(fields["subaction_idx"]),
                          int(fields["cam_idx"]), int(fields["frame_idx"]), bbox, vis))
    return out


def _parse_cameras(cams: Any, path: Path) -> dict[int, _CameraEntry]:
    if not isinstance(cams, dict) or not cams:
        raise DataFormatError(f"{path}: top level must be an object {{cam_idx: {{R, t, f, c}}}}")
    out = {}
    for key, entry in cams.items():
        w = f"[{key!r}]"
        out[int(key)] = _CameraEntry(
            R=as_array(require(entry, "R", path, w), (3, 3), path, f"{w}.R"),
            t=as_array(require(entry, "t", path, w), (3,), path, f"{w}.t").reshape(3),
            f=as_array(require(entry, "f", path, w), (2,), path, f"{w}.f"),
            c=as_array(require(entry, "c", path, w), (2,), path, f"{w}.c"),
        )
    return out


def _world_joints(joints: Any, img: _Image, path: Path) -> np.ndarray:
    keys = (str(img.action_idx), str(img.subaction_idx), str(img.frame_idx))
    node = joints
    for depth, key in enumerate(keys):
        if not isinstance(node, dict) or key not in node:
            trail = "".join(f"[{k!r}]" for k in keys[: depth + 1])
            raise DataFormatError(f"{path}: no field {trail} (needed by {img.where}, {img.file_name})")
        node = node[key]
    field = "".join(f"[{k!r}]" for k in keys)
    return as_array(node, (NUM_JOINTS, 3), path, field)


def _camera_of(cameras: dict[int, _CameraEntry], img: _Image, path: Path) -> _CameraEntry:
    if img.cam_idx not in cameras:
        raise DataFormatError(f"{path}: no field [{str(img.cam_idx)!r}] (camera of {img.where})")
    return cameras[img.cam_idx]


def _subject_convention(images: list[_Image], cameras: dict[int, _CameraEntry], joints: Any,
                        paths: dict[str, Path], requested: str, frames_per_camera: int = 32
                        ) -> tuple[str, dict[str, dict[str, ConventionFit]]]:
    """Test both conventions on up to ``frames_per_camera`` frames of every camera."""
    by_cam: dict[int, list[_Image]] = {}
    for img in images:
        by_cam.setdefault(img.cam_idx, []).append(img)
    fits: dict[str, dict[str, ConventionFit]] = {}
    for cam_idx, imgs in sorted(by_cam.items()):
        pick = [imgs[i] for i in np.linspace(0, len(imgs) - 1, min(frames_per_camera, len(imgs))).astype(int)]
        X = np.stack([_world_joints(joints, img, paths["joint_3d"]) for img in pick])
        cam = _camera_of(cameras, pick[0], paths["camera"])
        fits[str(cam_idx)] = {n: fit_convention(X, cam.R, cam.t, cam.f, cam.c, pick[0].width, pick[0].height, n)
                              for n in CONVENTIONS}
    if not fits:
        raise DataFormatError(f"{paths['data']}: field 'images' is empty")
    return choose_convention(fits, requested, paths["camera"]), fits


def h36m_3dmppe_conventions(root: Path, subjects: Sequence[int], requested: str = "auto"
                            ) -> dict[str, dict[str, Any]]:
    """For each subject of a layout-1 tree: the convention that fits, or the error.

    Returns ``{"S1": {"convention": "3dmppe" | None, "error": str | None, "fits": {...}}}``;
    used by ``partnas data check`` to report (rather than raise) a wrong convention.
    """
    report: dict[str, dict[str, Any]] = {}
    for subject in subjects:
        paths = subject_files(root, subject)
        try:
            images = _parse_images(read_json(paths["data"], "annotation file"), paths["data"], subject)
            cameras = _parse_cameras(read_json(paths["camera"], "camera file"), paths["camera"])
            joints = read_json(paths["joint_3d"], "3D joint file")
            conv, fits = _subject_convention(images, cameras, joints, paths, requested)
            report[subject_key(subject)] = {"convention": conv, "error": None, "fits": _fits_json(fits)}
        except (DataFormatError, FileNotFoundError) as err:
            report[subject_key(subject)] = {"convention": None, "error": str(err), "fits": {}}
    return report


def _fits_json(fits: dict[str, dict[str, ConventionFit]]) -> dict[str, dict[str, dict[str, float]]]:
    return {cam: {n: {"depth_fraction": f.depth_fraction, "inside_fraction": f.inside_fraction,
                      "depth_min_mm": f.depth_min_mm, "depth_max_mm": f.depth_max_mm}
                  for n, f in per.items()} for cam, per in fits.items()}


def load_h36m_3dmppe(root: str | Path, selection: H36MSelection | None = None, *,
                     image_size: int = DEFAULT_IMAGE_SIZE, with_images: bool = True,
                     camera_convention: str = "auto", detector_boxes: bool = False,
                     progress: bool = False) -> SampleArrays:
    """Load layout 1 (3DMPPE / I2L-MeshNet) under ``root`` (the folder holding ``images/`` and
    ``annotations/``).

    ``camera_convention``: ``"auto"`` detects it per subject (see the module docstring), or
    ``"3dmppe"`` / ``"i2l"`` to require one (still verified).  ``detector_boxes`` crops with
    the boxes of ``bbox_root/bbox_root_human36m_output.json`` instead of the annotated ones
    (3DMPPE's test setting without ground-truth boxes).  ``with_images=False`` skips reading
    JPEGs (black images, ``has_image=False``), for checks and 3D-only work.
    """
    root, sel = Path(root), selection or H36MSelection()
    detections = {}
    if detector_boxes:
        boxes = read_bbox_root(root / "bbox_root" / "bbox_root_human36m_output.json", "detector boxes file")
        detections = {image_id: found[-1]["bbox"] for image_id, found in boxes.items()}
    out = SampleCollector(image_size, with_images)
    for subject in sel.subjects:
        paths = subject_files(root, subject)
        images = _parse_images(read_json(paths["data"], "annotation file"), paths["data"], subject)
        cameras = _parse_cameras(read_json(paths["camera"], "camera file"), paths["camera"])
        joints = read_json(paths["joint_3d"], "3D joint file")
        convention, _ = _subject_convention(images, cameras, joints, paths, camera_convention)
        keep = [im for im in images if sel.keeps(subject, im.action_idx, im.subaction_idx, im.cam_idx, im.frame_idx)]
        keep.sort(key=lambda im: (im.action_idx, im.subaction_idx, im.cam_idx, im.frame_idx))
        for img in progress_bar(keep, progress, f"Human3.6M S{subject}"):
            cam = _camera_of(cameras, img, paths["camera"])
            X = to_camera(_world_joints(joints, img, paths["joint_3d"]), cam.R, cam.t, convention)
            box = img.bbox
            if detector_boxes:
                if img.id not in detections:
                    raise DataFormatError(f"{root / 'bbox_root'}: no detection for image_id {img.id} ({img.file_name})")
                box = detections[img.id]
            out.add(
                joints_2d=pinhole(X, cam.f, cam.c), joints_3d=X, joints_vis=img.vis,
                intrinsics=np.concatenate([cam.f, cam.c]), bbox=process_bbox(box, img.width, img.height),
                image_path=root / "images" / img.file_name,
                image_where=f"{img.where}.file_name in {paths['data']}",
                meta=sample_meta("3dmppe", subject, img.action_idx, img.subaction_idx, img.cam_idx, img.frame_idx,
                           camera_convention=convention, image_id=img.id, joints_2d_source="projected (pinhole)"),
            )
    return out.arrays(f"{root}: no Human3.6M samples match {sel}")


__all__ = ["CONVENTIONS", "ConventionFit", "DEPTH_RANGE_MM", "MIN_INSIDE_FRACTION", "choose_convention",
           "fit_convention", "h36m_3dmppe_conventions", "load_h36m_3dmppe", "pinhole", "subject_files",
           "to_camera"]
