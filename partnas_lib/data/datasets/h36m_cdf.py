"""Human3.6M layout 3: the original release, read with ``cdflib``.

``S*/MyPoseFeatures/D3_Positions_mono/<take>.<camid>.cdf`` (camera mm),
``D3_Positions/<take>.cdf`` (world mm) and ``D2_Positions/<take>.<camid>.cdf`` (px), 32 joints
reduced to 17 with :data:`~partnas_lib.data.datasets.h36m_facts.H36M_32_TO_17`.  **No images**
(the release has videos; ``data_scripts/prepare_h36m.py`` turns it into layout 1): samples get
an all-black image and ``meta["has_image"] = False``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from partnas_lib.data.datasets.h36m_facts import (
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
from partnas_lib.io import DataFormatError


def read_cdf_pose(path: Path, dims: int) -> np.ndarray:
    """Variable ``Pose`` of an original-release CDF as ``(N, 32, dims)`` (mm or px).

    The release stores shape ``(1, N, 32 * dims)``: 96 values per frame for 3D, 64 for 2D.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: CDF file not found")
    try:
        import cdflib
    except ImportError as err:  # pragma: no cover - cdflib is a declared dependency
        raise RuntimeError("reading the original Human3.6M release needs `pip install cdflib`") from err
    try:
        cdf = cdflib.CDF(str(path))
        names = cdf.cdf_info().zVariables + cdf.cdf_info().rVariables
    except Exception as err:  # cdflib raises assorted errors on foreign or truncated files
        raise DataFormatError(f"{path}: not a readable CDF file ({type(err).__name__}: {err})") from None
    if "Pose" not in names:
        raise DataFormatError(f"{path}: has no variable 'Pose' (found {names})")
    pose = np.asarray(cdf.varget("Pose"), dtype=np.float64)
    n_values = 32 * dims
    if pose.ndim == 3 and pose.shape[0] == 1:
        pose = pose[0]
    if pose.ndim != 2 or pose.shape[1] != n_values:
        joints = f"{pose.shape[-1] / dims:g}" if pose.ndim >= 2 else "?"
        raise DataFormatError(f"{path}: variable 'Pose' has shape {cdf.varget('Pose').shape} ({joints} joints), "
                              f"expected (1, N, {n_values}) = 32 joints x {dims}")
    return pose.reshape(len(pose), 32, dims)


def cdf_files(root: Path, subject: int) -> dict[str, Path]:
    """The pose folders of one subject in the original release."""
    base = Path(root) / subject_key(subject) / "MyPoseFeatures"
    return {"world": base / "D3_Positions", "mono": base / "D3_Positions_mono", "2d": base / "D2_Positions"}


def cdf_recordings(root: Path, subject: int) -> list[str]:
    """Take names of a subject, from ``D3_Positions_mono`` (``<take>.<camid>.cdf``) or else
    ``D3_Positions`` (``<take>.cdf``)."""
    dirs = cdf_files(root, subject)
    if dirs["mono"].is_dir():
        names = {p.name[: -len(".cdf")].rsplit(".", 1)[0] for p in dirs["mono"].glob("*.cdf")}
    elif dirs["world"].is_dir():
        names = {p.stem for p in dirs["world"].glob("*.cdf")}
    else:
        raise FileNotFoundError(f"{dirs['mono']}: folder not found (nor {dirs['world']})")
    if not names:
        raise FileNotFoundError(f"{dirs['mono'].parent}: no .cdf pose files")
    return sorted(names)


def load_h36m_cdf(root: str | Path, selection: H36MSelection | None = None, *,
                  image_size: int = DEFAULT_IMAGE_SIZE, calibration: Path | None = None,
                  progress: bool = False) -> SampleArrays:
    """Load layout 3, the original release (``root/S1/MyPoseFeatures/...``), with ``cdflib``.

    Camera-space joints come from ``D3_Positions_mono/<take>.<camid>.cdf``; where that file
    is absent, from ``D3_Positions/<take>.cdf`` (world) and the packaged calibration.  2D joints
    come from ``D2_Positions``; where a file is absent they are projected with the calibrated,
    distorted camera (``meta["joints_2d_source"]`` says which).  A camera with neither a
    ``D3_Positions_mono`` nor a ``D2_Positions`` file is skipped, unless both folders are
    absent (world poses only), in which case all selected cameras come from the calibration.
    32 joints -> 17 with :data:`H36M_32_TO_17`.  Samples have black images (``has_image=False``).
    """
    root, sel = Path(root), selection or H36MSelection()
    out = SampleCollector(image_size, with_images=False)
    for subject in progress_bar(list(sel.subjects), progress, "Human3.6M (CDF)"):
        dirs = cdf_files(root, subject)
        takes = index_recordings(cdf_recordings(root, subject), str(dirs["mono"]))
        for take, (action_idx, sub) in sorted(takes.items()):
            world: np.ndarray | None = None
            for cam_idx in sel.cameras:
                if not sel.keeps_sequence(subject, action_idx, sub, cam_idx):
                    continue
                cam = h36m_camera(subject, cam_idx, calibration)
                mono = dirs["mono"] / f"{take}.{cam.name}.cdf"
                d2 = dirs["2d"] / f"{take}.{cam.name}.cdf"
                if not (mono.is_file() or d2.is_file()) and (dirs["mono"].is_dir() or dirs["2d"].is_dir()):
                    continue  # this camera's per-camera files were not provided
                if mono.is_file() or not (dirs["world"] / f"{take}.cdf").is_file():
                    X_cam = read_cdf_pose(mono, 3)[:, list(H36M_32_TO_17)]
                else:
                    if world is None:
                        world = read_cdf_pose(dirs["world"] / f"{take}.cdf", 3)[:, list(H36M_32_TO_17)]
                    X_cam = cam.world_to_camera(world)
                if d2.is_file():
                    uv, source = read_cdf_pose(d2, 2)[:, list(H36M_32_TO_17)], f"D2_Positions/{d2.name}"
                else:
                    uv, source = cam.project(X_cam), "projected (calibrated camera with distortion)"
                for frame in range(0, min(len(X_cam), len(uv)), sel.frame_step):
                    add_imageless_pose(out, cam, X_cam[frame], uv[frame],
                                       sample_meta("cdf", subject, action_idx, sub, cam_idx, frame, recording=take,
                                                   joints_2d_source=source))
    return out.arrays(f"{root}: no Human3.6M samples match {sel}")


__all__ = ["cdf_files", "cdf_recordings", "load_h36m_cdf", "read_cdf_pose"]
