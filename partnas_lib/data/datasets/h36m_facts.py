"""Human3.6M facts every on-disk layout shares: joints, actions, cameras, recordings, frames.

The three layouts (:mod:`~partnas_lib.data.datasets.h36m`) store the same recordings
differently, but they agree on what is recorded:

* 32 original joints, 17 of which are the Human3.6M-17 skeleton (:data:`H36M_32_TO_17`);
* 15 actions, numbered 2..16 as in 3DMPPE's file names (:data:`ACTION_NAMES`), each recorded
  twice per subject; the original release names takes ("Directions 1") instead of numbering
  them (:func:`index_recordings`);
* 4 calibrated cameras per subject (:data:`CAMERA_IDS`), whose published calibration travels
  with the package (:func:`h36m_camera`);
* which frames to use: an :class:`H36MSelection` (subjects, frame step, cameras, actions) and
  the named subsets of the literature, :data:`H36M_SPLITS`.

:func:`sample_meta` writes the same ``meta`` keys for every layout, and
:func:`add_imageless_pose` adds a sample of a layout that carries no images.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from partnas_lib.camera import Camera
from partnas_lib.data.images import SampleCollector, process_bbox, tight_bbox
from partnas_lib.io import DataFormatError, as_array, read_json, require
from partnas_lib.skeleton import NUM_JOINTS

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
CALIBRATION_PATH = Path(__file__).resolve().parent.parent / "h36m_cameras.json"


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


#: Subsets of the literature, named by what they contain (docs/method.md Sec. 3).  3DMPPE reports
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
# Sample records
# --------------------------------------------------------------------------------------------

def sample_meta(layout: str, subject: int, action_idx: int, subaction_idx: int, cam_idx: int, frame: int,
                **extra: Any) -> dict[str, Any]:
    """The ``meta`` of one Human3.6M sample (the keys listed in :mod:`~partnas_lib.data.datasets.h36m`)."""
    return {"source": "h36m", "layout": layout, "subject": f"S{subject}", "subject_idx": subject,
            "action": ACTION_NAMES.get(action_idx, str(action_idx)), "action_idx": action_idx,
            "subaction_idx": subaction_idx, "camera": CAMERA_IDS[cam_idx - 1], "cam_idx": cam_idx,
            "frame": frame, **extra}


def add_imageless_pose(out: SampleCollector, cam: Camera, X_cam: np.ndarray, uv: np.ndarray, meta: dict) -> None:
    """Add one imageless sample; the crop box follows 3DMPPE's rule around the 2D joints."""
    width, height = cam.size
    out.add(joints_2d=uv, joints_3d=X_cam, joints_vis=np.ones(NUM_JOINTS, bool), intrinsics=cam.intrinsics,
            bbox=process_bbox(tight_bbox(uv), width, height), meta=meta)


__all__ = [
    "ACTION_ALIASES", "ACTION_INDEX", "ACTION_NAMES", "ALL_CAMERAS", "CALIBRATION_PATH", "CAMERA_IDS",
    "CORRUPT_SEQUENCES", "H36MSelection", "H36M_32_TO_17", "H36M_SPLITS", "action_of_recording",
    "add_imageless_pose", "camera_id", "h36m_camera", "index_recordings", "sample_meta", "subject_key",
]
