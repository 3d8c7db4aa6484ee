"""Human3.6M loaders: three on-disk layouts, one kind of record.

Human3.6M is licensed, so partnas never ships it; users bring it in one of the three layouts of
``formats.md`` and every loader here turns it into the same
:class:`~partnas_lib.data.sample.SampleArrays` (one row per person per camera frame):

``"3dmppe"`` -- layout 1, the 3DMPPE / I2L-MeshNet release (:func:`load_h36m_3dmppe`)
    COCO-style ``annotations/Human36M_subject{S}_data.json`` (images + boxes),
    ``_camera.json`` (R, t, f, c per camera) and ``_joint_3d.json`` (world mm), plus JPEG
    frames ``images/s_SS_act_AA_subact_BB_ca_CC/..._FFFFFF.jpg``.  The two releases disagree on
    what ``t`` means: 3DMPPE uses ``X_cam = R (X_world - t)`` (``t`` is the camera centre),
    I2L-MeshNet uses ``X_cam = R X_world + t``.  The loader tries both and keeps the one under
    which every joint lies 2-8 m in front of the camera and projects inside the image
    (:func:`fit_convention`); it fails loudly when neither (or both) fit.  The 2D joints are
    the pinhole projection of the 3D joints (the layout has no 2D annotation and 3DMPPE ignores
    lens distortion, which costs at most about 2.5 px).
``"videopose3d"`` -- layout 2, VideoPose3D's ``data_3d_h36m.npz`` / ``data_2d_h36m_gt.npz``
    (:func:`load_h36m_videopose3d`).  World poses in metres (32 joints), 2D poses in pixels;
    no cameras, so the packaged calibration ``h36m_cameras.json`` provides them.  Both files
    store *pickled* dicts, and unpickling can run code hidden in a file: the loader only does
    it when called with ``allow_pickle=True``.
``"cdf"`` -- layout 3, the original release read with ``cdflib`` (:func:`load_h36m_cdf`).
    ``D3_Positions_mono`` (camera mm) and ``D2_Positions`` (px) per camera, 32 joints reduced
    to 17 with :data:`H36M_32_TO_17`.

**Layouts 2 and 3 carry no images.**  Their samples get an all-black image of the configured
size and ``meta["has_image"] = False``; the arrays are allocated with ``np.zeros``, which on
Linux takes no physical memory until written.  They are good for 2D-to-3D work, checks and
evaluation of the 3D side, not for training an image model.  (Use
``data_scripts/prepare_h36m.py`` to turn the original release, videos included, into layout 1.)

Every sample's ``meta`` holds ``source="h36m"``, ``layout``, ``subject`` ("S1"),
``subject_idx``, ``action`` (name), ``action_idx`` (2..16), ``subaction_idx``, ``camera``
(id), ``cam_idx`` (1..4), ``frame`` (0-based frame of the 50 Hz video), ``has_image``,
``image_path`` and, where relevant, ``camera_convention``, ``recording`` (the original file
name of the take, e.g. "Directions 1") and ``joints_2d_source``.

Which frames: an :class:`H36MSelection` (subjects, frame step, cameras, actions);
:data:`H36M_SPLITS` names the subsets the literature uses by what they contain, e.g.
``"train_s1_s5_s6_s7_s8_every5"`` (method.md Sec. 3: 3DMPPE trains on every 5th frame and tests
on every 64th frame of all four cameras).

This module also holds the small helpers the MuPoTS-3D and MPII loaders share: clear errors
(:class:`DataFormatError`), JSON reading, the 3DMPPE box rule (:func:`process_bbox`), the crop
(:func:`crop_square`) and :class:`SampleCollector`.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from partnas_lib.camera import Camera
from partnas_lib.data.sample import SampleArrays
from partnas_lib.io import DataFormatError, PickleConsentError, as_array, read_json, require
from partnas_lib.skeleton import NUM_JOINTS

# --------------------------------------------------------------------------------------------
# Dataset facts (formats.md)
# --------------------------------------------------------------------------------------------

#: Original 32-joint ``D3_Positions`` index of each Human3.6M-17 joint.
H36M_32_TO_17: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

#: ``action_idx`` (2..16, as in 3DMPPE's file names) -> action name.
ACTION_NAMES: dict[int, str] = {
    2: "Directions", 3: "Discussion", 4: "Eating", 5: "Greeting", 6: "Phoning", 7: "Posing",
    8: "Purchases", 9: "Sitting", 10: "SittingDown", 11: "Smoking", 12: "Photo", 13: "Waiting",
    14: "Walking", 15: "WalkDog", 16: "WalkTogether",
}
ACTION_INDEX: dict[str, int] = {name: idx for idx, name in ACTION_NAMES.items()}
#: Names S1 uses in the original release for two actions.
ACTION_ALIASES: dict[str, str] = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}

#: Camera ids in ``cam_idx`` order 1..4 (also the order of VideoPose3D's 2D lists).
CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
ALL_CAMERAS: tuple[int, ...] = (1, 2, 3, 4)

#: (subject, action_idx, subaction_idx, cam_idx) of known corrupt videos:
#: ``s_11_act_02_subact_02_ca_01``.
CORRUPT_SEQUENCES: frozenset[tuple[int, int, int, int]] = frozenset({(11, 2, 2, 1)})

#: The calibration of all 11 subjects x 4 cameras, carried with the package (published facts).
CALIBRATION_PATH = Path(__file__).with_name("h36m_cameras.json")

LAYOUTS: tuple[str, ...] = ("3dmppe", "videopose3d", "cdf")

#: The two meanings of ``t`` in layout 1's ``_camera.json``.
CONVENTIONS: dict[str, str] = {
    "3dmppe": "X_cam = R (X_world - t)",
    "i2l": "X_cam = R X_world + t",
}
#: A convention fits when joints lie this deep (mm) in front of the camera...
DEPTH_RANGE_MM: tuple[float, float] = (2000.0, 8000.0)
#: ...and at least this fraction of them project inside the image.
MIN_INSIDE_FRACTION = 0.9

DEFAULT_IMAGE_SIZE = 256


# --------------------------------------------------------------------------------------------
# Boxes, images, crops (shared)
# --------------------------------------------------------------------------------------------

def tight_bbox(uv: np.ndarray) -> np.ndarray:
    """``[x, y, w, h]`` of the smallest box around 2D points ``(J, 2)``."""
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], dtype=np.float64)


def process_bbox(bbox: Sequence[float], width: int, height: int, aspect: float = 1.0,
                 margin: float = 1.25) -> np.ndarray:
    """3DMPPE's box rule: clip ``[x, y, w, h]`` to the image, extend to ``w / h = aspect``
    around its centre, then grow both sides by ``margin``.  Returns ``[x, y, w, h]`` (px).

    The result may reach outside the image; :func:`crop_square` pads with black there.
    """
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 <= x1 or y2 <= y1:  # box outside the image or degenerate: keep it as given
        x1, y1, x2, y2 = x, y, x + w, y + h
    w, h = x2 - x1, y2 - y1
    if w <= 0 or h <= 0:
        raise ValueError(f"bounding box {list(bbox)} has no area")
    cx, cy = x1 + w / 2.0, y1 + h / 2.0
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    w, h = w * margin, h * margin
    return np.array([cx - w / 2.0, cy - h / 2.0, w, h], dtype=np.float64)


def read_rgb(path: Path, where: str) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB; a missing or unreadable file names ``where``
    (the annotation field that points to it)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image file missing (referenced by {where})")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as err:
        raise DataFormatError(f"{path}: unreadable image (referenced by {where}): {err}") from None


def crop_square(image: np.ndarray, bbox: Sequence[float], size: int) -> np.ndarray:
    """The ``size x size`` crop of box ``[x, y, w, h]``, bilinear, black outside the image.

    Pixel ``(i, j)`` of the crop has its centre at crop coordinates ``(j + 0.5, i + 0.5)``;
    :func:`partnas_lib.camera.image_to_crop` maps image pixels to the same continuous
    coordinates, so joints and pixels stay aligned.  Like 3DMPPE's ``cv2.warpAffine`` this is
    plain bilinear sampling (no anti-alias pre-filter).
    """
    from scipy import ndimage

    x, y, w, h = (float(v) for v in bbox)
    sx, sy = w / size, h / size
    # source index (pixel centres at integers) of the first crop pixel centre
    r0, c0 = y + 0.5 * sy - 0.5, x + 0.5 * sx - 0.5
    r1, c1 = r0 + (size - 1) * sy, c0 + (size - 1) * sx
    H, W = image.shape[:2]
    top, left = max(int(np.floor(r0)) - 1, 0), max(int(np.floor(c0)) - 1, 0)
    bottom, right = min(int(np.ceil(r1)) + 2, H), min(int(np.ceil(c1)) + 2, W)
    out = np.zeros((size, size, 3), dtype=np.uint8)
    if bottom <= top or right <= left:  # the box misses the image entirely
        return out
    patch = image[top:bottom, left:right].astype(np.float32)
    for ch in range(3):
        sampled = ndimage.affine_transform(
            patch[..., ch], (sy, sx), offset=(r0 - top, c0 - left), output_shape=(size, size),
            order=1, mode="constant", cval=0.0, prefilter=False,
        )
        out[..., ch] = np.clip(np.rint(sampled), 0, 255).astype(np.uint8)
    return out


def pinhole(X_cam: np.ndarray, f: Sequence[float], c: Sequence[float]) -> np.ndarray:
    """``u = fx X/Z + cx, v = fy Y/Z + cy`` (no distortion), for points ``(..., 3)``."""
    X_cam = np.asarray(X_cam, dtype=np.float64)
    return X_cam[..., :2] / X_cam[..., 2:3] * np.asarray(f, float) + np.asarray(c, float)


class SampleCollector:
    """Accumulates samples and stacks them into :class:`SampleArrays`.

    With ``with_images`` each sample that has an ``image_path`` is read and cropped to its box
    now; samples without one (layouts with no images, or ``with_images=False``) get a black
    image and ``meta["has_image"] = False``.
    """

    def __init__(self, image_size: int, with_images: bool):
        if image_size < 8:
            raise ValueError(f"image_size must be at least 8 px, got {image_size}")
        self.image_size = int(image_size)
        self.with_images = with_images
        self._rows: dict[str, list[np.ndarray]] = {k: [] for k in ("j2", "j3", "vis", "intr", "bbox")}
        self._has_3d: list[bool] = []
        self._images: list[np.ndarray | None] = []
        self.meta: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.meta)

    def add(self, *, joints_2d: np.ndarray, joints_3d: np.ndarray, joints_vis: np.ndarray,
            intrinsics: Sequence[float], bbox: Sequence[float], meta: dict[str, Any],
            image_path: Path | None = None, image_where: str = "", has_3d: bool = True) -> None:
        image = None
        if self.with_images and image_path is not None:
            image = crop_square(read_rgb(image_path, image_where), bbox, self.image_size)
        self._rows["j2"].append(np.asarray(joints_2d, np.float64))
        self._rows["j3"].append(np.asarray(joints_3d, np.float64))
        self._rows["vis"].append(np.asarray(joints_vis, bool))
        self._rows["intr"].append(np.asarray(intrinsics, np.float64))
        self._rows["bbox"].append(np.asarray(bbox, np.float64))
        self._has_3d.append(bool(has_3d))
        self._images.append(image)
        meta = dict(meta)
        meta["has_image"] = image is not None
        meta.setdefault("image_path", str(image_path) if image_path is not None else "")
        self.meta.append(meta)

    def arrays(self, nothing_found: str) -> SampleArrays:
        """Stack everything; ``nothing_found`` is the error message when no sample was added."""
        if not self.meta:
            raise ValueError(nothing_found)
        n, s = len(self.meta), self.image_size
        images = np.zeros((n, s, s, 3), np.uint8)  # untouched pages cost no memory
        for i, im in enumerate(self._images):
            if im is not None:
                images[i] = im
        j3 = np.stack(self._rows["j3"]).astype(np.float32)
        return SampleArrays(
            images=images,
            joints_2d=np.stack(self._rows["j2"]).astype(np.float32),
            joints_3d=j3,
            joints_vis=np.stack(self._rows["vis"]).astype(bool),
            root_depth=j3[:, 0, 2].copy(),
            intrinsics=np.stack(self._rows["intr"]).astype(np.float32),
            bbox=np.stack(self._rows["bbox"]).astype(np.float32),
            has_3d=np.array(self._has_3d, dtype=bool),
            meta=self.meta,
        )


def progress_bar(items: Sequence[Any], enabled: bool, desc: str) -> Iterable[Any]:
    """``items`` wrapped in a tqdm bar when ``enabled`` (long loads show progress, design.md)."""
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="img")


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------

@lru_cache(maxsize=4)
def _calibration(path: str) -> dict[str, Any]:
    data = read_json(Path(path), "Human3.6M calibration")
    return require(data, "cameras", Path(path), "top level")


def subject_key(subject: int | str) -> str:
    """``1``, ``"1"`` or ``"S1"`` -> ``"S1"``."""
    s = str(subject)
    return s if s.startswith("S") else f"S{int(s)}"


def camera_id(camera: int | str) -> str:
    """``cam_idx`` 1..4 or a camera id -> the camera id ("54138969", ...)."""
    s = str(camera)
    if s in CAMERA_IDS:
        return s
    if s.isdigit() and 1 <= int(s) <= len(CAMERA_IDS):
        return CAMERA_IDS[int(s) - 1]
    raise ValueError(f"unknown Human3.6M camera {camera!r}; expected 1..4 or one of {CAMERA_IDS}")


def h36m_camera(subject: int | str, camera: int | str, calibration: Path | None = None) -> Camera:
    """The calibrated :class:`~partnas_lib.camera.Camera` of one subject's camera.

    Read from the packaged ``h36m_cameras.json`` (or ``calibration``), whose convention is
    ``X_cam = R_world_to_cam (X_world - center_mm)``, the same as :class:`Camera`'s ``R, C``.
    """
    path = Path(calibration) if calibration else CALIBRATION_PATH
    cams = _calibration(str(path))
    skey, cid = subject_key(subject), camera_id(camera)
    entry = require(require(cams, skey, path, "cameras"), cid, path, f"cameras[{skey!r}]")
    where = f"cameras[{skey!r}][{cid!r}]"
    return Camera(
        f=as_array(require(entry, "f", path, where), (2,), path, f"{where}.f"),
        c=as_array(require(entry, "c", path, where), (2,), path, f"{where}.c"),
        R=as_array(require(entry, "R_world_to_cam", path, where), (3, 3), path, f"{where}.R_world_to_cam"),
        C=as_array(require(entry, "center_mm", path, where), (3,), path, f"{where}.center_mm"),
        k=as_array(require(entry, "k", path, where), (3,), path, f"{where}.k"),
        p=as_array(require(entry, "p", path, where), (2,), path, f"{where}.p"),
        size=(int(require(entry, "width", path, where)), int(require(entry, "height", path, where))),
        name=cid,
    )


# --------------------------------------------------------------------------------------------
# Which frames
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class H36MSelection:
    """Which samples to load: subjects, every ``frame_step``-th frame, cameras, actions.

    ``actions`` / ``subactions`` of ``None`` keep all.  ``skip_corrupt`` drops
    :data:`CORRUPT_SEQUENCES`.  A frame is kept when ``frame_idx % frame_step == 0`` (frame
    indices count the 50 Hz video from 0), which is 3DMPPE's sampling rule.
    """

    subjects: tuple[int, ...] = (1, 5, 6, 7, 8)
    frame_step: int = 5
    cameras: tuple[int, ...] = ALL_CAMERAS
    actions: tuple[int, ...] | None = None
    subactions: tuple[int, ...] | None = None
    skip_corrupt: bool = True

    def __post_init__(self) -> None:
        if self.frame_step < 1:
            raise ValueError(f"frame_step must be >= 1, got {self.frame_step}")
        bad = [c for c in self.cameras if c not in ALL_CAMERAS]
        if bad:
            raise ValueError(f"cameras must be cam_idx values 1..4, got {bad}")
        if self.actions is not None and any(a not in ACTION_NAMES for a in self.actions):
            raise ValueError(f"actions must be action_idx values 2..16, got {list(self.actions)}")

    def keeps_sequence(self, subject: int, action_idx: int, subaction_idx: int, cam_idx: int) -> bool:
        return (
            subject in self.subjects and cam_idx in self.cameras
            and (self.actions is None or action_idx in self.actions)
            and (self.subactions is None or subaction_idx in self.subactions)
            and not (self.skip_corrupt and (subject, action_idx, subaction_idx, cam_idx) in CORRUPT_SEQUENCES)
        )

    def keeps(self, subject: int, action_idx: int, subaction_idx: int, cam_idx: int, frame_idx: int) -> bool:
        return frame_idx % self.frame_step == 0 and self.keeps_sequence(subject, action_idx, subaction_idx, cam_idx)


#: Subsets of the literature, named by what they contain (method.md Sec. 3).  3DMPPE reports
#: MPJPE after root alignment training on S1, S5-S8 and testing on S9, S11, and PA-MPJPE
#: training on S1, S5-S9 and testing on S11; it trains on every 5th frame and tests on every
#: 64th frame of all four cameras.
H36M_SPLITS: dict[str, H36MSelection] = {
    "train_s1_s5_s6_s7_s8_every5": H36MSelection((1, 5, 6, 7, 8), 5),
    "test_s9_s11_every64": H36MSelection((9, 11), 64),
    "train_s1_s5_s6_s7_s8_s9_every5": H36MSelection((1, 5, 6, 7, 8, 9), 5),
    "test_s11_every64": H36MSelection((11,), 64),
}


# --------------------------------------------------------------------------------------------
# Recording names of the original release ("Directions 1") -> action / subaction
# --------------------------------------------------------------------------------------------

def action_of_recording(name: str, where: str = "") -> int:
    """``action_idx`` of an original take name: "Directions 1" -> 2, "TakingPhoto" -> 12."""
    base = re.sub(r"\s*\d+$", "", name.strip())
    base = ACTION_ALIASES.get(base, base)
    if base not in ACTION_INDEX:
        raise DataFormatError(
            f"{where or 'recording'}: unknown Human3.6M action {name!r}; "
            f"expected one of {sorted(ACTION_INDEX)} (optionally followed by a number)"
        )
    return ACTION_INDEX[base]


def index_recordings(names: Iterable[str], where: str = "") -> dict[str, tuple[int, int]]:
    """Map take names to ``(action_idx, subaction_idx)``.

    Each action was recorded twice per subject ("Directions" and "Directions 1").  The original
    release does not number them; here the two takes of an action are numbered 1 and 2 in
    sorted name order ("Directions" -> 1, "Directions 1" -> 2).  The name stays in
    ``meta["recording"]``, so nothing is lost if another tool numbers them differently.
    """
    by_action: dict[int, list[str]] = {}
    for name in sorted(set(names)):
        by_action.setdefault(action_of_recording(name, where), []).append(name)
    out: dict[str, tuple[int, int]] = {}
    for action, takes in by_action.items():
        for sub, name in enumerate(takes, start=1):
            out[name] = (action, sub)
    return out


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
                  ("id", "file_name", "width", "height", "subject", "action_idx", "subaction_idx", "cam_idx", "frame_idx")}
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


def _read_bbox_root(path: Path) -> dict[int, np.ndarray]:
    entries = read_json(path, "detector boxes file")
    if not isinstance(entries, list):
        raise DataFormatError(f"{path}: top level must be a list of {{image_id, bbox, root_cam}}")
    return {int(require(e, "image_id", path, f"[{i}]")):
            as_array(require(e, "bbox", path, f"[{i}]"), (4,), path, f"[{i}].bbox")
            for i, e in enumerate(entries)}


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
    detections = _read_bbox_root(root / "bbox_root" / "bbox_root_human36m_output.json") if detector_boxes else {}
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
                meta=_meta("3dmppe", subject, img.action_idx, img.subaction_idx, img.cam_idx, img.frame_idx,
                           camera_convention=convention, image_id=img.id, joints_2d_source="projected (pinhole)"),
            )
    return out.arrays(f"{root}: no Human3.6M samples match {sel}")


def _meta(layout: str, subject: int, action_idx: int, subaction_idx: int, cam_idx: int, frame: int,
          **extra: Any) -> dict[str, Any]:
    return {"source": "h36m", "layout": layout, "subject": f"S{subject}", "subject_idx": subject,
            "action": ACTION_NAMES.get(action_idx, str(action_idx)), "action_idx": action_idx,
            "subaction_idx": subaction_idx, "camera": CAMERA_IDS[cam_idx - 1], "cam_idx": cam_idx,
            "frame": frame, **extra}


# --------------------------------------------------------------------------------------------
# Layout 2: VideoPose3D npz
# --------------------------------------------------------------------------------------------

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
                    _add_pose(out, cam, cam.world_to_camera(world[frame]), uv[frame],
                              _meta("videopose3d", subject, action_idx, sub, cam_idx, frame, recording=take,
                                    joints_2d_source=f"{p2.name}"))
    return out.arrays(f"{root}: no Human3.6M samples match {sel}")


def _add_pose(out: SampleCollector, cam: Camera, X_cam: np.ndarray, uv: np.ndarray, meta: dict) -> None:
    """Add one imageless sample; the crop box follows 3DMPPE's rule around the 2D joints."""
    width, height = cam.size
    out.add(joints_2d=uv, joints_3d=X_cam, joints_vis=np.ones(NUM_JOINTS, bool), intrinsics=cam.intrinsics,
            bbox=process_bbox(tight_bbox(uv), width, height), meta=meta)


# --------------------------------------------------------------------------------------------
# Layout 3: original release (CDF)
# --------------------------------------------------------------------------------------------

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
    absent (world poses only), in which case all selected cameras come from the calibration.  32 joints -> 17 with
    :data:`H36M_32_TO_17`.  Samples have black images (``has_image=False``).
    """
    root, sel = Path(root), selection or H36MSelection()
    out = SampleCollector(image_size, with_images=False)
    for subject in progress_bar(list(sel.subjects), progress, "Human3.6M (CDF)"):
        dirs = cdf_files(root, subject)
        for take, (action_idx, sub) in sorted(index_recordings(cdf_recordings(root, subject), str(dirs["mono"])).items()):
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
                    _add_pose(out, cam, X_cam[frame], uv[frame],
                              _meta("cdf", subject, action_idx, sub, cam_idx, frame, recording=take,
                                    joints_2d_source=source))
    return out.arrays(f"{root}: no Human3.6M samples match {sel}")


# --------------------------------------------------------------------------------------------
# One entry point
# --------------------------------------------------------------------------------------------

def detect_h36m_layout(root: str | Path) -> str:
    """Which of :data:`LAYOUTS` the folder ``root`` holds, judged by the files present."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: Human3.6M root folder not found")
    if any((root / "annotations").glob("Human36M_subject*_data.json")):
        return "3dmppe"
    if (root / "data_3d_h36m.npz").is_file():
        return "videopose3d"
    if any(root.glob("S*/MyPoseFeatures")):
        return "cdf"
    raise FileNotFoundError(
        f"{root}: no Human3.6M layout found; looked for annotations/Human36M_subject*_data.json "
        "(3DMPPE / I2L-MeshNet), data_3d_h36m.npz (VideoPose3D) and S*/MyPoseFeatures (original CDF)"
    )


def load_h36m(root: str | Path, layout: str | None = None, selection: H36MSelection | str | None = None,
              **kwargs: Any) -> SampleArrays:
    """Load Human3.6M from ``root`` in any layout (detected when ``layout`` is None).

    ``selection`` is an :class:`H36MSelection` or a name of :data:`H36M_SPLITS`; ``kwargs`` go
    to the layout's loader (``image_size``, ``with_images``, ``camera_convention``,
    ``allow_pickle``, ``progress`` ...).
    """
    layout = layout or detect_h36m_layout(root)
    if isinstance(selection, str):
        if selection not in H36M_SPLITS:
            raise ValueError(f"unknown Human3.6M split {selection!r}; expected one of {sorted(H36M_SPLITS)}")
        selection = H36M_SPLITS[selection]
    loaders = {"3dmppe": load_h36m_3dmppe, "videopose3d": load_h36m_videopose3d, "cdf": load_h36m_cdf}
    if layout not in loaders:
        raise ValueError(f"unknown Human3.6M layout {layout!r}; expected one of {LAYOUTS}")
    return loaders[layout](root, selection, **kwargs)


__all__ = [
    "ACTION_ALIASES", "ACTION_INDEX", "ACTION_NAMES", "ALL_CAMERAS", "CALIBRATION_PATH", "CAMERA_IDS",
    "CONVENTIONS", "CORRUPT_SEQUENCES", "ConventionFit", "DEFAULT_IMAGE_SIZE", "DataFormatError", "H36MSelection",
    "H36M_32_TO_17", "H36M_SPLITS", "LAYOUTS", "PickleConsentError", "SampleCollector", "action_of_recording",
    "as_array", "camera_id", "cdf_files", "cdf_recordings", "choose_convention", "crop_square",
    "detect_h36m_layout", "fit_convention", "h36m_3dmppe_conventions", "h36m_camera", "index_recordings",
    "load_h36m", "load_h36m_3dmppe", "load_h36m_cdf", "load_h36m_videopose3d", "pinhole", "process_bbox",
    "progress_bar", "read_cdf_pose", "read_json", "read_npz_object", "read_rgb", "require", "subject_files",
    "subject_key", "tight_bbox", "to_camera",
]
