"""MuPoTS-3D loaders: the original ``annot.mat`` release and Moon's preprocessed JSON.

MuPoTS-3D (Mehta et al. 2018) is the multi-person test set of the paper: 20 sequences
``TS1``..``TS20`` (TS1-5 indoor, 2048 x 2048; TS6-20 outdoor, 1920 x 1080), several people per
frame.  Both layouts of ``formats.md`` load into one :class:`~partnas_lib.data.sample.Sample`
*per person*, joints reordered from the MuPoTS (MPI-INF-3DHP test) order into Human3.6M-17
with :data:`H36M_FROM_MUPOTS`.  A multi-person evaluator regroups people by image with the meta:

``image_id``
    An integer per image, unique within the loaded arrays: Moon's ids in the JSON layout, a
    running index over the loaded frames (sequences in order) in the ``.mat`` layout.
``file_name``
    ``"TS3/img_000042.jpg"``, the same in both layouts: the key to match them.
``sequence`` / ``frame`` / ``person``
    Sequence name, 0-based frame and the person's index within the image.
``is_valid``
    The annotation's ``isValidFrame`` / ``is_valid`` flag (people not annotated in a frame have
    0).  Loaders keep only valid people unless ``valid_only=False``.
``joints_3d_univ``
    (``.mat`` only) the height-normalised "universal" skeleton ``univ_annot3``, Human3.6M-17
    order, for scorers that rescale bones.

Layout ``"mat"``: ``MultiPersonTestSet/TS*/annot.mat`` (a cell array frames x people of structs
with ``annot2`` 2x17 px, ``annot3`` 3x17 camera mm, ``univ_annot3``, ``isValidFrame``), optional
``occlusion.mat`` (``occlusion_labels``, used for ``joints_vis``) and ``img_%06d.jpg``.  **The
original release ships no intrinsics**, so they are estimated per sequence by linear least
squares from the annotations themselves: ``u = fx X/Z + cx`` and ``v = fy Y/Z + cy`` over every
valid joint of every frame give two independent 2-unknown problems (:func:`estimate_intrinsics`).
The fit residual is kept in ``meta["intrinsics_rms_px"]``; on exact pinhole annotations it is 0.

Layout ``"json"``: ``MuPoTS-3D.json`` (images with ``intrinsic`` [fx, fy, cx, cy]; annotations
with ``keypoints_img``, ``keypoints_cam``, ``keypoints_vis``, ``bbox``, ``is_valid``) with the
frames under ``MultiPersonTestSet/``.  Detector boxes and RootNet roots
(``bbox_root_mupots_output.json``) are read by :func:`load_mupots_detections`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from partnas_lib.data.h36m import DEFAULT_IMAGE_SIZE, SampleCollector, process_bbox, progress_bar, tight_bbox
from partnas_lib.data.sample import SampleArrays
from partnas_lib.io import DataFormatError, as_array, read_json, require
from partnas_lib.skeleton import NUM_JOINTS

#: MuPoTS-3D joint order (MPI-INF-3DHP test order).
MUPOTS_JOINT_NAMES: tuple[str, ...] = (
    "head_top", "thorax", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "pelvis", "spine", "head",
)
#: Human3.6M-17 joint ``i`` is MuPoTS joint ``H36M_FROM_MUPOTS[i]`` (formats.md).  MuPoTS'
#: "head" (centre of the head) stands in for Human3.6M's nose.
H36M_FROM_MUPOTS: tuple[int, ...] = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)

SEQUENCES: tuple[str, ...] = tuple(f"TS{i}" for i in range(1, 21))
INDOOR_SEQUENCES: tuple[str, ...] = SEQUENCES[:5]
LAYOUTS: tuple[str, ...] = ("mat", "json")


def image_size_of(sequence: str) -> tuple[int, int]:
    """``(width, height)``: TS1-5 are 2048 x 2048 (indoor), TS6-20 1920 x 1080 (outdoor)."""
    return (2048, 2048) if sequence in INDOOR_SEQUENCES else (1920, 1080)


def mupots_to_h36m(joints: np.ndarray) -> np.ndarray:
    """Reorder ``(..., 17, D)`` MuPoTS-order joints into Human3.6M-17 order."""
    return np.asarray(joints)[..., list(H36M_FROM_MUPOTS), :]


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


# --------------------------------------------------------------------------------------------
# Original release (annot.mat)
# --------------------------------------------------------------------------------------------

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


def _mat_root(root: Path) -> Path:
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
        raise DataFormatError(f"{path}: has no variable {variable!r} (found {sorted(k for k in mat if not k.startswith('__'))})")
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
    base = _mat_root(Path(root))
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
                    meta=_meta("mat", seq, f, p, image_id, bool(ann["valid"][f, p]),
                               joints_3d_univ=ann["univ"][f, p].round(3).tolist(),
                               intrinsics_source="least squares from annot2/annot3", intrinsics_rms_px=rms),
                )
            image_id += 1
    return out.arrays(f"{base}: no MuPoTS-3D people found for sequences {wanted}")


def _meta(layout: str, sequence: str, frame: int, person: int, image_id: int, valid: bool,
          **extra: Any) -> dict[str, Any]:
    return {"source": "mupots", "layout": layout, "sequence": sequence, "subject": sequence,
            "action": "indoor" if sequence in INDOOR_SEQUENCES else "outdoor", "camera": sequence,
            "frame": frame, "person": person, "image_id": image_id,
            "file_name": f"{sequence}/img_{frame:06d}.jpg", "is_valid": valid, **extra}


# --------------------------------------------------------------------------------------------
# Moon's JSON
# --------------------------------------------------------------------------------------------

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
            meta=_meta("json", img["sequence"], img["frame"], person, image_id, valid,
                       intrinsics_source="MuPoTS-3D.json images[].intrinsic"),
        )
    return out.arrays(f"{path}: no MuPoTS-3D people found for sequences {sequences or 'all'}")


def load_mupots_detections(root: str | Path) -> dict[int, list[dict[str, Any]]]:
    """Detector boxes and RootNet roots per ``image_id`` from ``bbox_root_mupots_output.json``
    (searched in ``root/bbox_root/`` then ``root/``): ``{image_id: [{bbox, root_cam, score}]}``."""
    root = Path(root)
    candidates = [root / "bbox_root" / "bbox_root_mupots_output.json", root / "bbox_root_mupots_output.json"]
    path = next((p for p in candidates if p.is_file()), candidates[0])
    entries = read_json(path, "MuPoTS-3D detections file")
    if not isinstance(entries, list):
        raise DataFormatError(f"{path}: top level must be a list of {{image_id, bbox, root_cam, score}}")
    out: dict[int, list[dict[str, Any]]] = {}
    for i, e in enumerate(entries):
        w = f"[{i}]"
        out.setdefault(int(require(e, "image_id", path, w)), []).append({
            "bbox": as_array(require(e, "bbox", path, w), (4,), path, f"{w}.bbox"),
            "root_cam": as_array(require(e, "root_cam", path, w), (3,), path, f"{w}.root_cam"),
            "score": float(e.get("score", 1.0)),
        })
    return out


# --------------------------------------------------------------------------------------------
# One entry point
# --------------------------------------------------------------------------------------------

def detect_mupots_layout(root: str | Path) -> str:
    """``"json"`` if ``root/MuPoTS-3D.json`` exists, else ``"mat"`` if ``annot.mat`` files do."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: MuPoTS-3D root folder not found")
    if (root / "MuPoTS-3D.json").is_file():
        return "json"
    _mat_root(root)  # raises a clear error when there is no annot.mat either
    return "mat"


def load_mupots(root: str | Path, layout: str | None = None, **kwargs: Any) -> SampleArrays:
    """Load MuPoTS-3D from ``root`` in either layout (detected when ``layout`` is None);
    ``kwargs``: ``sequences``, ``image_size``, ``with_images``, ``valid_only``, ``progress``."""
    layout = layout or detect_mupots_layout(root)
    if layout == "mat":
        return load_mupots_mat(root, **kwargs)
    if layout == "json":
        return load_mupots_json(root, **kwargs)
    raise ValueError(f"unknown MuPoTS-3D layout {layout!r}; expected one of {LAYOUTS}")


__all__ = [
    "H36M_FROM_MUPOTS", "INDOOR_SEQUENCES", "LAYOUTS", "MUPOTS_JOINT_NAMES", "SEQUENCES", "detect_mupots_layout",
    "estimate_intrinsics", "image_size_of", "load_mupots", "load_mupots_detections", "load_mupots_json",
    "load_mupots_mat", "mupots_to_h36m",
]
