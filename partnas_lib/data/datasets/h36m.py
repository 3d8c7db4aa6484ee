"""Human3.6M loaders: three on-disk layouts, one kind of record.

Human3.6M is licensed, so partnas never ships it; users bring it in one of the three layouts of
``docs/formats.md`` and every loader here turns it into the same
:class:`~partnas_lib.data.sample.SampleArrays` (one row per person per camera frame):

``"3dmppe"`` -- layout 1, the 3DMPPE / I2L-MeshNet release
    (:mod:`~partnas_lib.data.datasets.h36m_3dmppe`).
    COCO-style ``annotations/Human36M_subject{S}_data.json`` (images + boxes),
    ``_camera.json`` (R, t, f, c per camera) and ``_joint_3d.json`` (world mm), plus JPEG
    frames ``images/s_SS_act_AA_subact_BB_ca_CC/..._FFFFFF.jpg``.  The two releases disagree on
    what ``t`` means: 3DMPPE uses ``X_cam = R (X_world - t)`` (``t`` is the camera centre),
    I2L-MeshNet uses ``X_cam = R X_world + t``.  The loader tries both and keeps the one under
    which every joint lies 2-8 m in front of the camera and projects inside the image
    (:func:`~partnas_lib.data.datasets.h36m_3dmppe.fit_convention`); it fails loudly when
    neither (or both) fit.  The 2D joints are the pinhole projection of the 3D joints (the
    layout has no 2D annotation and 3DMPPE ignores lens distortion, which costs at most about
    2.5 px).
``"videopose3d"`` -- layout 2, VideoPose3D's ``data_3d_h36m.npz`` / ``data_2d_h36m_gt.npz``
    (:mod:`~partnas_lib.data.datasets.h36m_videopose3d`).  World poses in metres (32 joints), 2D
    poses in pixels; no cameras, so the packaged calibration ``h36m_cameras.json`` provides them.  Both files
    store *pickled* dicts, and unpickling can run code hidden in a file: the loader only does
    it when called with ``allow_pickle=True``.
``"cdf"`` -- layout 3, the original release read with ``cdflib``
    (:mod:`~partnas_lib.data.datasets.h36m_cdf`).
    ``D3_Positions_mono`` (camera mm) and ``D2_Positions`` (px) per camera, 32 joints reduced
    to 17 with :data:`~partnas_lib.data.datasets.h36m_facts.H36M_32_TO_17`.

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

Which frames: an :class:`~partnas_lib.data.datasets.h36m_facts.H36MSelection` (subjects, frame
step, cameras, actions); :data:`~partnas_lib.data.datasets.h36m_facts.H36M_SPLITS` names the
subsets the literature uses by what they contain, e.g.
``"train_s1_s5_s6_s7_s8_every5"`` (docs/method.md Sec. 3: 3DMPPE trains on every 5th frame and tests
on every 64th frame of all four cameras).

This module is the entry point: :func:`detect_h36m_layout` and :func:`load_h36m`.  Each layout
has its own module, and the facts they share (actions, cameras, frames) live in
:mod:`~partnas_lib.data.datasets.h36m_facts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from partnas_lib.data.datasets.h36m_3dmppe import load_h36m_3dmppe
from partnas_lib.data.datasets.h36m_cdf import load_h36m_cdf
from partnas_lib.data.datasets.h36m_facts import H36M_SPLITS, H36MSelection
from partnas_lib.data.datasets.h36m_videopose3d import load_h36m_videopose3d
from partnas_lib.data.sample import SampleArrays

LAYOUTS: tuple[str, ...] = ("3dmppe", "videopose3d", "cdf")
#: Layouts that carry no images, with what they are and how to get images (docs/formats.md).
IMAGELESS_LAYOUTS: dict[str, str] = {
    "videopose3d": ("VideoPose3D's data_3d_h36m.npz / data_2d_h36m_gt.npz (poses only, no frames); get the "
                    "original release with its videos and run data_scripts/prepare_h36m.py --src ORIGINAL "
                    "--out DIR, or use the 3DMPPE release"),
    "cdf": ("the original release's S*/MyPoseFeatures/*.cdf (poses; its videos are not read); run "
            "data_scripts/prepare_h36m.py --src {root} --out DIR, which decodes the videos into the "
            "3DMPPE layout"),
}


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


__all__ = ["IMAGELESS_LAYOUTS", "LAYOUTS", "detect_h36m_layout", "load_h36m"]
