"""Human3.6M layout 2: VideoPose3D's ``data_3d_h36m.npz`` / ``data_2d_h36m_<keypoints>.npz``.

World poses in metres (32 joints) and 2D poses in pixels (17 joints, distorted like the
images), one array per take; no cameras, so the packaged calibration provides them
(:func:`~partnas_lib.data.datasets.h36m_facts.h36m_camera`).  **No images**: samples get an
all-black image and ``meta["has_image"] = False``.

Both files store *pickled* dicts, and unpickling can run code hidden in a file: the loader only
does it when called with ``allow_pickle=True`` (:func:`read_npz_object`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from partnas_lib.data.datasets.h36m_facts import (
    CAMERA_IDS,
    H36M_32_TO_17,
    H36MSelection,
    add_imageless_pose,
    h36m_camera,
    index_recordings,
    sample_meta,
    subject_key,
)
from partnas_lib.data.images import DEFAULT_IMAGE_SIZE, SampleCollector, progress_bar
from partnas_lib.data.sample import SampleArrays
from partnas_lib.io import DataFormatError, PickleConsentError, require
from partnas_lib.skeleton import NUM_JOINTS


def read_npz_object(path: Path, key: str, allow_pickle: bool) -> Any:
    """Array ``key`` of an ``.npz``; pickled objects (VideoPose3D's dicts) need consent.

    ``np.load(..., allow_pickle=True)`` unpickles, and unpickling can execute code embedded in
    the file.  So this first tries without pickle; if the array turns out to be a pickled
    object and ``allow_pickle`` is False it raises :class:`PickleConsentError` explaining why.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            if key not in z.files:
                raise DataFormatError(f"{path}: has no array {key!r} (found {sorted(z.files)})")
            try:
                return z[key]
            except ValueError as err:
                if "allow_pickle" not in str(err):
                    raise DataFormatError(f"{path}: array {key!r} is unreadable: {err}") from None
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise DataFormatError(f"{path}: not a readable .npz file ({err})") from None
    if not allow_pickle:
        raise PickleConsentError(
            f"{path}: field {key!r} is a pickled Python object. Unpickling can execute arbitrary code "
            "hidden in the file, so partnas loads it only with your explicit consent: pass "
            "allow_pickle=True (CLI: --allow-pickle) if you trust this file, e.g. you made it yourself "
            "with VideoPose3D's prepare_data_h36m.py"
        )
    with np.load(path, allow_pickle=True) as z:
        obj = z[key]
    return obj.item() if obj.dtype == object and obj.shape == () else obj


def _as_dict(obj: Any, path: Path, field: str) -> dict:
    if not isinstance(obj, dict):
        raise DataFormatError(f"{path}: field {field} must be a dict, got {type(obj).__name__}")
    return obj


def _reduce_32(arr: Any, path: Path, field: str, dims: int) -> np.ndarray:
    """``(N, 32, dims)`` or ``(N, 17, dims)`` -> ``(N, 17, dims)`` float64."""
    a = np.asarray(arr, dtype=np.float64)
    if a.ndim != 3 or a.shape[2] != dims:
        raise DataFormatError(f"{path}: field {field} has shape {a.shape}, expected (N, 32, {dims})")
    if a.shape[1] == 32:
        return a[:, list(H36M_32_TO_17)]
    if a.shape[1] == NUM_JOINTS:
        return a
    raise DataFormatError(f"{path}: field {field} has {a.shape[1]} joints, expected 32 (or 17)")


def load_h36m_videopose3d(root: str | Path, selection: H36MSelection | None = None, *,
                          allow_pickle: bool = False, keypoints: str = "gt",
                          image_size: int = DEFAULT_IMAGE_SIZE, calibration: Path | None = None,
                          progress: bool = False) -> SampleArrays:
    """Load layout 2: ``root/data_3d_h36m.npz`` and ``root/data_2d_h36m_{keypoints}.npz``.

    The 3D poses are world metres (32 joints) and become camera millimetres through the
    packaged calibration; the 2D poses (17 joints, px, distorted like the images) are taken as
    they are.  Where a take's 2D and 3D arrays differ in length the shorter one wins.  Both
    files are pickles: see :func:`read_npz_object` for why ``allow_pickle=True`` is required.
    Samples have black images (``has_image=False``): this layout has no frames.
    """
    root, sel = Path(root), selection or H36MSelection()
    p3, p2 = root / "data_3d_h36m.npz", root / f"data_2d_h36m_{keypoints}.npz"
    poses_3d = _as_dict(read_npz_object(p3, "positions_3d", allow_pickle), p3, "'positions_3d'")
    poses_2d = _as_dict(read_npz_object(p2, "positions_2d", allow_pickle), p2, "'positions_2d'")
    try:
        meta2d = _as_dict(read_npz_object(p2, "metadata", allow_pickle), p2, "'metadata'")
    except DataFormatError:
        meta2d = {}
    if int(meta2d.get("num_joints", NUM_JOINTS)) != NUM_JOINTS:
        raise DataFormatError(f"{p2}: field metadata['num_joints'] is {meta2d['num_joints']}, expected {NUM_JOINTS}")
    out = SampleCollector(image_size, with_images=False)
    for subject in progress_bar(list(sel.subjects), progress, "Human3.6M (VideoPose3D)"):
        skey = subject_key(subject)
        takes3 = _as_dict(require(poses_3d, skey, p3, "positions_3d"), p3, f"positions_3d[{skey!r}]")
        takes2 = _as_dict(require(poses_2d, skey, p2, "positions_2d"), p2, f"positions_2d[{skey!r}]")
        for take, (action_idx, sub) in sorted(index_recordings(takes3, f"{p3}: positions_3d[{skey!r}]").items()):
            f3 = f"positions_3d[{skey!r}][{take!r}]"
            world = _reduce_32(takes3[take], p3, f3, 3) * 1000.0  # metres -> mm
            views = require(takes2, take, p2, f"positions_2d[{skey!r}]")
            if not isinstance(views, (list, tuple)) or len(views) != len(CAMERA_IDS):
                raise DataFormatError(f"{p2}: field positions_2d[{skey!r}][{take!r}] must be a list of "
                                      f"{len(CAMERA_IDS)} arrays (one per camera, in the order {CAMERA_IDS})")
            for cam_idx in sel.cameras:
                if not sel.keeps_sequence(subject, action_idx, sub, cam_idx):
                    continue
                f2 = f"positions_2d[{skey!r}][{take!r}][{cam_idx - 1}]"
                uv = np.asarray(views[cam_idx - 1], dtype=np.float64)
                if uv.ndim != 3 or uv.shape[1:] != (NUM_JOINTS, 2):
                    what = f"{uv.shape[1]} joints" if uv.ndim == 3 else f"shape {uv.shape}"
                    raise DataFormatError(f"{p2}: field {f2} has {what}, expected (N, {NUM_JOINTS}, 2)")
                cam = h36m_camera(subject, cam_idx, calibration)
                for frame in range(0, min(len(world), len(uv)), sel.frame_step):
                    add_imageless_pose(out, cam, cam.world_to_camera(world[frame]), uv[frame],
                                       sample_meta("videopose3d", subject, action_idx, sub, cam_idx, frame,
                                                   recording=take, joints_2d_source=f"{p2.name}"))
    return out.arrays(f"{root}: no Human3.6M samples match {sel}")


__all__ = ["load_h36m_videopose3d", "read_npz_object"]
