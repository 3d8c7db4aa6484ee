"""MuPoTS-3D, original release: ``MultiPersonTestSet/TS*/annot.mat`` and the JPEG frames.

Each ``annot.mat`` is a cell array frames x people of structs with ``annot2`` (2 x 17 px),
``annot3`` (3 x 17 camera mm), ``univ_annot3`` (the height-normalised "universal" skeleton) and
``isValidFrame``; an optional ``occlusion.mat`` (``occlusion_labels``) gives ``joints_vis``, and
the frames are ``img_%06d.jpg``.

**The original release ships no intrinsics**, so they are estimated per sequence by linear least
squares from the annotations themselves: ``u = fx X/Z + cx`` and ``v = fy Y/Z + cy`` over every
valid joint of every frame give two independent 2-unknown problems (:func:`estimate_intrinsics`).
The fit residual is kept in ``meta["intrinsics_rms_px"]``; on exact pinhole annotations it is 0.
``image_id`` is a running index over the loaded frames (sequences in order), and
``meta["joints_3d_univ"]`` holds ``univ_annot3`` in Human3.6M-17 order.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from partnas_lib.data.datasets.mupots_facts import H36M_FROM_MUPOTS, image_size_of, mupots_to_h36m, sample_meta
from partnas_lib.data.images import DEFAULT_IMAGE_SIZE, SampleCollector, process_bbox, progress_bar, tight_bbox
from partnas_lib.data.sample import SampleArrays
from partnas_lib.io import DataFormatError, as_array
from partnas_lib.skeleton import NUM_JOINTS


def estimate_intrinsics(uv: np.ndarray, X: np.ndarray, where: str = "") -> tuple[np.ndarray, float]:
    """Least-squares ``(fx, fy, cx, cy)`` from 2D ``(N, 2)`` px and camera-space ``(N, 3)`` mm.

    ``u = fx (X/Z) + cx`` is linear in ``(fx, cx)``, ``v = fy (Y/Z) + cy`` in ``(fy, cy)``; each
    is solved with ``numpy.linalg.lstsq``.  Returns the intrinsics and the RMS residual (px).
    """
    uv, X = np.asarray(uv, float).reshape(-1, 2), np.asarray(X, float).reshape(-1, 3)
    keep = X[:, 2] > 0
    uv, X = uv[keep], X[keep]
    xy = X[:, :2] / X[:, 2:3]
    if len(xy) < 3 or np.ptp(xy[:, 0]) < 1e-6 or np.ptp(xy[:, 1]) < 1e-6:
        raise DataFormatError(f"{where}: too few distinct joints in front of the camera to estimate intrinsics")
    params, residuals = [], []
    for axis in (0, 1):
        A = np.stack([xy[:, axis], np.ones(len(xy))], axis=1)
        sol, *_ = np.linalg.lstsq(A, uv[:, axis], rcond=None)
        params.append(sol)
        residuals.append(uv[:, axis] - A @ sol)
    (fx, cx), (fy, cy) = params
    rms = float(np.sqrt(np.mean(np.concatenate(residuals) ** 2)))
    return np.array([fx, fy, cx, cy]), rms


def _unwrap(value: Any) -> Any:
    """MATLAB cells and structs come back from ``loadmat`` as nested 1x1 object arrays."""
    while isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
        value = value.flat[0]
    return value


def _struct_field(struct: Any, name: str, path: Path, where: str) -> Any:
    """Field ``name`` of one ``loadmat`` struct (record array or ``mat_struct``)."""
    struct = _unwrap(struct)
    if isinstance(struct, np.ndarray) and struct.dtype.names:
        if name not in struct.dtype.names:
            raise DataFormatError(f"{path}: {where} has no field {name!r} (fields: {list(struct.dtype.names)})")
        return _unwrap(struct[name])
    if hasattr(struct, "_fieldnames"):
        if name not in struct._fieldnames:
            raise DataFormatError(f"{path}: {where} has no field {name!r} (fields: {struct._fieldnames})")
        return _unwrap(getattr(struct, name))
    raise DataFormatError(f"{path}: {where} is not a MATLAB struct (got {type(struct).__name__})")


def _joints_from_mat(value: Any, rows: int, path: Path, field: str) -> np.ndarray:
    """A ``rows x 17`` MATLAB matrix -> ``(17, rows)`` in Human3.6M-17 order."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[0] == rows:
        arr = arr.T
    return mupots_to_h36m(as_array(arr, (NUM_JOINTS, rows), path, field))


def mat_root(root: Path) -> Path:
    root = Path(root)
    if (root / "MultiPersonTestSet").is_dir():
        return root / "MultiPersonTestSet"
    if any(root.glob("TS*/annot.mat")):
        return root
    raise FileNotFoundError(f"{root}: no MultiPersonTestSet/TS*/annot.mat (original MuPoTS-3D layout)")


def _sequence_sort_key(name: str) -> int:
    m = re.fullmatch(r"TS(\d+)", name)
    return int(m.group(1)) if m else 10_000


def _read_cell(path: Path, variable: str) -> np.ndarray:
    import scipy.io

    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as err:  # scipy raises several types on foreign / truncated files
        raise DataFormatError(f"{path}: not a readable MATLAB file ({type(err).__name__}: {err})") from None
    if variable not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DataFormatError(f"{path}: has no variable {variable!r} (found {found})")
    cell = mat[variable]
    if not isinstance(cell, np.ndarray) or cell.dtype != object or cell.ndim != 2:
        raise DataFormatError(f"{path}: variable {variable!r} must be a 2D cell array (frames x people)")
    return cell


def _occlusion(folder: Path, frames: int, people: int) -> np.ndarray | None:
    """``(frames, people, 17)`` bool occluded flags in Human3.6M-17 order, if the file exists."""
    path = folder / "occlusion.mat"
    if not path.is_file():
        return None
    cell = _read_cell(path, "occlusion_labels")
    if cell.shape != (frames, people):
        raise DataFormatError(f"{path}: variable 'occlusion_labels' is {cell.shape}, annot.mat is {(frames, people)}")
    out = np.zeros((frames, people, NUM_JOINTS), bool)
    for f in range(frames):
        for p in range(people):
            labels = np.asarray(_unwrap(cell[f, p]), dtype=np.float64).reshape(-1)
            labels = as_array(labels, (NUM_JOINTS,), path, f"occlusion_labels[{f}, {p}]")
            out[f, p] = labels[list(H36M_FROM_MUPOTS)] > 0
    return out


def _read_sequence_mat(folder: Path) -> dict[str, np.ndarray]:
    """One ``annot.mat`` as arrays ``(frames, people, 17, ...)`` in Human3.6M-17 order."""
    path = folder / "annot.mat"
    cell = _read_cell(path, "annotations")
    F, P = cell.shape
    uv = np.zeros((F, P, NUM_JOINTS, 2))
    X = np.zeros((F, P, NUM_JOINTS, 3))
    univ = np.zeros((F, P, NUM_JOINTS, 3))
    valid = np.zeros((F, P), bool)
    for f in range(F):
        for p in range(P):
            where = f"annotations[{f}, {p}]"
            s = cell[f, p]
            uv[f, p] = _joints_from_mat(_struct_field(s, "annot2", path, where), 2, path, f"{where}.annot2")
            X[f, p] = _joints_from_mat(_struct_field(s, "annot3", path, where), 3, path, f"{where}.annot3")
            univ[f, p] = _joints_from_mat(_struct_field(s, "univ_annot3", path, where), 3, path, f"{where}.univ_annot3")
            valid[f, p] = bool(np.asarray(_struct_field(s, "isValidFrame", path, where)).reshape(-1)[0])
    occluded = _occlusion(folder, F, P)
    return {"uv": uv, "X": X, "univ": univ, "valid": valid,
            "occluded": occluded if occluded is not None else np.zeros((F, P, NUM_JOINTS), bool)}


def _frame_size(image: Path, sequence: str) -> tuple[int, int]:
    if image.is_file():
        from PIL import Image

        with Image.open(image) as im:
            return im.size
    return image_size_of(sequence)


def load_mupots_mat(root: str | Path, sequences: Sequence[str] | None = None, *,
                    image_size: int = DEFAULT_IMAGE_SIZE, with_images: bool = True, valid_only: bool = True,
                    progress: bool = False) -> SampleArrays:
    """Load the original MuPoTS-3D release (see the module docstring; intrinsics estimated)."""
    base = mat_root(Path(root))
    found = sorted((p.parent.name for p in base.glob("TS*/annot.mat")), key=_sequence_sort_key)
    wanted = list(sequences) if sequences is not None else found
    out = SampleCollector(image_size, with_images)
    image_id = 0
    for seq in sorted(wanted, key=_sequence_sort_key):
        folder = base / seq
        ann = _read_sequence_mat(folder)
        use = ann["valid"]
        if not use.any():
            raise DataFormatError(f"{folder / 'annot.mat'}: no person has isValidFrame = 1")
        intr, rms = estimate_intrinsics(ann["uv"][use], ann["X"][use], str(folder / "annot.mat"))
        frames = range(ann["uv"].shape[0])
        for f in progress_bar(list(frames), progress, f"MuPoTS-3D {seq}"):
            image = folder / f"img_{f:06d}.jpg"
            width, height = _frame_size(image, seq)
            for p in range(ann["uv"].shape[1]):
                if valid_only and not ann["valid"][f, p]:
                    continue
                uv = ann["uv"][f, p]
                out.add(
                    joints_2d=uv, joints_3d=ann["X"][f, p], joints_vis=~ann["occluded"][f, p], intrinsics=intr,
                    bbox=process_bbox(tight_bbox(uv), width, height), image_path=image,
                    image_where=f"frame {f} of {folder / 'annot.mat'}",
                    meta=sample_meta("mat", seq, f, p, image_id, bool(ann["valid"][f, p]),
                               joints_3d_univ=ann["univ"][f, p].round(3).tolist(),
                               intrinsics_source="least squares from annot2/annot3", intrinsics_rms_px=rms),
                )
            image_id += 1
    return out.arrays(f"{base}: no MuPoTS-3D people found for sequences {wanted}")


__all__ = ["estimate_intrinsics", "load_mupots_mat", "mat_root"]
