"""3D poses of your own pictures with a finished run: what ``partnas predict`` computes.

The network of a run (``DIR/checkpoints/model.pt``) turns a square crop of one person into,
per joint, an image position and a depth *relative to the pelvis* (docs/method.md Sec. 3).  To
report millimetres three more things are needed, and a user's photo has none of them:

1. **a person box** -- ``--bbox``, ``--boxes`` or the whole frame (:mod:`partnas_lib.data.inputs`,
   which cuts the crop with the datasets' own box rule);
2. **a camera** ``[fx, fy, cx, cy]`` -- ``--intrinsics``, or a pinhole camera with focal
   ``--focal`` centred on the image; by default the focal is :data:`DEFAULT_FOCAL_FACTOR` times
   the longer image side, the field of view of the Human3.6M cameras the synthetic rig copies
   (1145 px on a 1000 px frame, about 47 degrees) -- the views the network was trained on;
3. **the root depth** Z (camera to pelvis, mm) -- RootNet (``--rootnet DIR``, else the run's own
   ``checkpoints/rootnet.pt``; :mod:`partnas_lib.models.rootnet`), else the bare 3DMPPE prior
   ``k = sqrt(fx fy A_real / A_box)`` (:func:`~partnas_lib.models.rootnet.k_prior`).

Joints are then back-projected exactly as the evaluation does
(:func:`~partnas_lib.eval.multi_person.decode_people`).

**Why the focal hardly matters for root-relative joints.**  Both root depths grow with the
focal (``k`` is proportional to ``sqrt(fx fy)``, RootNet scales ``k``), and ``X = (u - cx) Z / fx``
divides by it again: an assumed focal twice too long doubles Z and leaves the root-relative
pose almost unchanged -- only the small perspective term of each joint's relative depth moves.
The *absolute* position, in contrast, is proportional to the focal.  So root-relative joints
(``joints_root_relative_mm``) are always reported, and absolute ones (``joints_abs_mm``) only
when the root depth comes from a RootNet *and* the camera was given (``--intrinsics`` or
``--focal``); otherwise they are ``null``.  The scale of the root-relative pose still inherits
the root depth's error: a root 10 % too far makes the pose 10 % too wide (docs/method.md Sec. 3,
the multi-person evaluation's ``gt_root`` scores show the same effect).

Entry point: :func:`predict_inputs`; :func:`save_predictions` writes ``predictions.json`` and
``predictions.npz``, :mod:`partnas_lib.eval.predict_page` the HTML page.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from partnas_lib.config import Config
from partnas_lib.data.inputs import FrameCrop, list_inputs, parse_box, read_boxes, read_crops
from partnas_lib.data.sample import SampleArrays
from partnas_lib.eval.evaluate import predict_coords
from partnas_lib.eval.multi_person import decode_people, load_pose_model
from partnas_lib.io import atomic_write_bytes, write_json
from partnas_lib.models.heads import PartPoseNet
from partnas_lib.models.rootnet import RootNet, k_prior, predict_root_depth
from partnas_lib.skeleton import JOINT_NAMES, NUM_JOINTS
from partnas_lib.train.device import resolve_device
from partnas_lib.train.rootnet import load_rootnet, rootnet_path
from partnas_lib.train.rundir import RunDir

#: Default focal length = this factor x the longer image side (px): Human3.6M's 1145 px on its
#: 1000 px frames, which the synthetic rig copies (:func:`partnas_lib.camera.h36m_like_rig`).
DEFAULT_FOCAL_FACTOR = 1.145
PREDICTIONS_JSON = "predictions.json"
PREDICTIONS_NPZ = "predictions.npz"
PREDICTIONS_HTML = "predictions.html"


@dataclass
class Prediction:
    """The poses of every input frame, stacked along axis 0 (``N`` frames), plus where the
    numbers came from.  Units: pixels of each frame in 2D, camera-space mm in 3D (X right,
    Y down, Z forward; docs/architecture.md, "Conventions").
    """

    sources: list[str]              # the input file of each frame
    frames: np.ndarray              # (N,) frame index in its file (0 for an image)
    image_wh: np.ndarray            # (N, 2) frame width, height (px)
    boxes: np.ndarray               # (N, 4) person box [x, y, w, h] (the frame when none was given)
    box_sources: list[str]          # "--bbox", the box file, or "whole frame"
    crop_boxes: np.ndarray          # (N, 4) the square box the crop was cut from
    intrinsics: np.ndarray          # (N, 4) fx, fy, cx, cy used to back-project
    joints_2d: np.ndarray           # (N, 17, 2) px of the frame
    joints_rel_mm: np.ndarray       # (N, 17, 3) root-relative (pelvis at 0)
    joints_abs_mm: np.ndarray | None  # (N, 17, 3) camera space, or None (see the module docstring)
    root_depth_mm: np.ndarray       # (N,) the root depth used
    root_source: str                # "rootnet" | "k_prior"
    root_text: str                  # the same in words (which RootNet)
    camera_text: str                # where the intrinsics came from
    run: str
    flip_test: bool
    crops: np.ndarray               # (N, S, S, 3) uint8, what the network saw
    thumbnails: list[np.ndarray | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sources)

    def frame_records(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per frame (the ``frames`` list of ``predictions.json``)."""
        out = []
        for i in range(len(self)):
            out.append({
                "source": self.sources[i], "frame": int(self.frames[i]),
                "image_size": [int(v) for v in self.image_wh[i]],
                "box": self.boxes[i], "box_source": self.box_sources[i], "crop_box": self.crop_boxes[i],
                "intrinsics": self.intrinsics[i], "joints_2d_px": self.joints_2d[i],
                "joints_root_relative_mm": self.joints_rel_mm[i],
                "joints_abs_mm": None if self.joints_abs_mm is None else self.joints_abs_mm[i],
                "root_depth_mm": float(self.root_depth_mm[i]), "root_depth_source": self.root_source,
            })
        return out

    def to_json(self) -> dict[str, Any]:
        """The content of ``predictions.json``."""
        return {
            "run": self.run, "num_frames": len(self), "joint_names": list(JOINT_NAMES),
            "units": "2D: pixels of the frame; 3D: camera-space millimetres (X right, Y down, Z forward)",
            "root_depth": self.root_text, "camera": self.camera_text, "flip_test": self.flip_test,
            "absolute_joints": self.joints_abs_mm is not None, "frames": self.frame_records(),
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The content of ``predictions.npz`` (plain arrays; ``joints_abs_mm`` NaN when not reported)."""
        nan = np.full_like(self.joints_rel_mm, np.nan)
        return {
            "source": np.array(self.sources, dtype=str), "frame": self.frames.astype(np.int64),
            "image_wh": self.image_wh.astype(np.int64), "box": self.boxes, "crop_box": self.crop_boxes,
            "intrinsics": self.intrinsics, "joints_2d_px": self.joints_2d,
            "joints_root_relative_mm": self.joints_rel_mm,
            "joints_abs_mm": nan if self.joints_abs_mm is None else self.joints_abs_mm,
            "root_depth_mm": self.root_depth_mm,
        }


# --------------------------------------------------------------------------------------------
# the camera


def parse_intrinsics(text: str) -> np.ndarray:
    """``"fx,fy,cx,cy"`` (pixels) -> ``[fx, fy, cx, cy]``."""
    try:
        values = [float(p) for p in str(text).replace(" ", "").split(",") if p != ""]
    except ValueError:
        raise ValueError(f"--intrinsics {text!r}: expected four numbers fx,fy,cx,cy (pixels)") from None
    if len(values) != 4 or not np.all(np.isfinite(values)):
        raise ValueError(f"--intrinsics {text!r}: expected four finite numbers fx,fy,cx,cy (pixels)")
    if values[0] <= 0 or values[1] <= 0:
        raise ValueError(f"--intrinsics {text!r}: the focal lengths fx, fy must be positive")
    return np.asarray(values, dtype=np.float64)


def frame_intrinsics(width: int, height: int, intrinsics: np.ndarray | None = None,
                     focal: float | None = None) -> np.ndarray:
    """``[fx, fy, cx, cy]`` of a frame: the given intrinsics, else a pinhole camera centred on the
    frame (pixel ``i`` covers ``[i, i + 1)``, so the centre is ``W / 2, H / 2``) with focal
    ``focal`` or :data:`DEFAULT_FOCAL_FACTOR` x the longer side."""
    if intrinsics is not None:
        return np.asarray(intrinsics, dtype=np.float64)
    f = float(focal) if focal is not None else DEFAULT_FOCAL_FACTOR * max(width, height)
    return np.array([f, f, width / 2.0, height / 2.0])


def camera_text(intrinsics: np.ndarray | None, focal: float | None) -> str:
    if intrinsics is not None:
        return f"given: --intrinsics {', '.join(f'{v:g}' for v in intrinsics)}"
    if focal is not None:
        return f"given: --focal {focal:g} px, principal point at the image centre"
    return (f"assumed: focal {DEFAULT_FOCAL_FACTOR:g} x the longer image side (Human3.6M's field of view), "
            "principal point at the image centre; give --intrinsics or --focal for absolute joints")


# --------------------------------------------------------------------------------------------
# the run


def load_run(run_dir: str | Path, device: str | None = None) -> tuple[Config, PartPoseNet, torch.device]:
    """The config and pose network of a finished run on ``device`` (default: the run's
    ``config.json`` ``device``), or an error saying what is missing."""
    run = RunDir(Path(run_dir))
    if not run.root.is_dir():
        raise FileNotFoundError(f"{run.root}: no such run directory")
    for path in (run.config, run.checkpoints / "model.pt"):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist: {run.root} is not a finished run "
                                    f"(train one with 'partnas reproduce --out {run.root}')")
    cfg = Config.load(run.config)
    dev = resolve_device(device or cfg.device)
    return cfg, load_pose_model(cfg, run.root, dev), dev


def find_rootnet(run_dir: str | Path, rootnet: str | Path | None, image_size: int,
                 device: torch.device) -> tuple[RootNet | None, str]:
    """RootNet from ``rootnet`` (a directory or checkpoint), else the run's own
    ``checkpoints/rootnet.pt`` if it exists, else None; and a sentence saying which."""
    location = rootnet if rootnet is not None else (run_dir if rootnet_path(run_dir).is_file() else None)
    if location is None:
        return None, (f"k prior (gamma = 1): no RootNet given and none in {rootnet_path(run_dir)} "
                      "(pass --rootnet DIR, or train one with 'partnas rootnet train')")
    net, ckpt = load_rootnet(location, device)
    size = int(ckpt.get("config", {}).get("data", {}).get("image_size", image_size))
    if size != image_size:
        raise ValueError(f"{rootnet_path(location)}: RootNet was trained on {size} px crops, the pose network on "
                         f"{image_size} px; train a RootNet with the run's config")
    return net, f"RootNet {rootnet_path(location)}"


# --------------------------------------------------------------------------------------------
# prediction


def _as_samples(crops: Sequence[FrameCrop], intrinsics: np.ndarray) -> SampleArrays:
    """Crops as :class:`SampleArrays` with unknown (zero) joints, as the network's input."""
    n = len(crops)
    return SampleArrays(
        images=np.stack([c.crop for c in crops]), joints_2d=np.zeros((n, NUM_JOINTS, 2), np.float32),
        joints_3d=np.zeros((n, NUM_JOINTS, 3), np.float32), joints_vis=np.zeros((n, NUM_JOINTS), bool),
        root_depth=np.full(n, np.nan, np.float32), intrinsics=intrinsics.astype(np.float32),
        bbox=np.stack([c.crop_box for c in crops]).astype(np.float32), has_3d=np.zeros(n, bool),
        meta=[{"source": c.source, "frame": c.frame} for c in crops],
    )


def predict_crops(cfg: Config, model: PartPoseNet, crops: Sequence[FrameCrop], device: torch.device,
                  rootnet: RootNet | None = None, intrinsics: np.ndarray | None = None,
                  focal: float | None = None) -> dict[str, Any]:
    """Run the network (with the run's flip test) and RootNet or the k prior on ``crops``:
    a dict of :class:`Prediction`'s array fields."""
    if not crops:
        raise ValueError("nothing to predict: no frames were read")
    intr = np.stack([frame_intrinsics(*c.image_wh, intrinsics, focal) for c in crops])
    crop_boxes = np.stack([c.crop_box for c in crops])
    arrays = _as_samples(crops, intr)
    if rootnet is not None:
        roots = predict_root_depth(rootnet, arrays.images, crop_boxes, intr, cfg.eval.batch_size, device,
                                   flip_test=cfg.eval.flip_test)
    else:
        roots = k_prior(crop_boxes, intr)
    coords = predict_coords(model, arrays, cfg.eval.batch_size, device, cfg.eval.flip_test)
    uv, joints = decode_people(model, coords, crop_boxes, intr, roots)
    absolute = rootnet is not None and (intrinsics is not None or focal is not None)
    return {"intrinsics": intr, "joints_2d": uv, "joints_rel_mm": joints - joints[:, :1],
            "joints_abs_mm": joints if absolute else None, "root_depth_mm": np.asarray(roots, np.float64),
            "crops": arrays.images}


def predict_inputs(run_dir: str | Path, inputs: Sequence[str | Path], *, bbox: str | None = None,
                   boxes: str | Path | None = None, intrinsics: str | None = None, focal: float | None = None,
                   rootnet: str | Path | None = None, device: str | None = None, thumbnails: int = 0,
                   thumbnail_px: int = 320, progress: bool = False) -> Prediction:
    """``partnas predict``: the 3D pose of the person in every frame of ``inputs`` (images,
    folders, videos) with the run in ``run_dir``.

    ``bbox`` (``"x,y,w,h"``) boxes every frame, ``boxes`` is a box file
    (:func:`~partnas_lib.data.inputs.read_boxes`); neither: the whole frame.  ``intrinsics``
    (``"fx,fy,cx,cy"``) or ``focal`` fix the camera, else :func:`frame_intrinsics` assumes one.
    ``thumbnails`` keeps that many frames, shrunk to ``thumbnail_px``, for the HTML page.  Inputs and options are
    checked before the network is loaded, so bad input fails in a second.
    """
    if bbox is not None and boxes is not None:
        raise ValueError("give --bbox (one box for every frame) or --boxes FILE (a box per file), not both")
    if intrinsics is not None and focal is not None:
        raise ValueError("give --intrinsics or --focal, not both")
    if focal is not None and not (np.isfinite(focal) and focal > 0):
        raise ValueError(f"--focal {focal}: expected a positive focal length in pixels")
    box = parse_box(bbox) if bbox is not None else None
    box_map = read_boxes(boxes) if boxes is not None else None
    intr = parse_intrinsics(intrinsics) if intrinsics is not None else None
    list_inputs(inputs)  # missing files and empty folders fail before the network loads
    cfg, model, dev = load_run(run_dir, device)
    net, root_text = find_rootnet(run_dir, rootnet, cfg.data.image_size, dev)
    crops = read_crops(inputs, cfg.data.image_size, bbox=box, boxes=box_map, boxes_file=boxes or "--boxes",
                       thumbnails=thumbnails, thumbnail_px=thumbnail_px, progress=progress)
    out = predict_crops(cfg, model, crops, dev, net, intr, focal)
    return Prediction(
        sources=[c.source for c in crops], frames=np.array([c.frame for c in crops], dtype=np.int64),
        image_wh=np.array([c.image_wh for c in crops], dtype=np.int64),
        boxes=np.stack([c.box for c in crops]), box_sources=[c.box_source for c in crops],
        crop_boxes=np.stack([c.crop_box for c in crops]), root_source="rootnet" if net is not None else "k_prior",
        root_text=root_text, camera_text=camera_text(intr, focal), run=str(run_dir), flip_test=cfg.eval.flip_test,
        thumbnails=[c.thumbnail for c in crops], **out,
    )


def save_predictions(pred: Prediction, out: str | Path) -> tuple[Path, Path]:
    """Write ``OUT/predictions.json`` and ``OUT/predictions.npz`` atomically; returns their paths."""
    out = Path(out)
    json_path, npz_path = out / PREDICTIONS_JSON, out / PREDICTIONS_NPZ
    buffer = io.BytesIO()
    np.savez(buffer, **pred.arrays())
    write_json(json_path, pred.to_json())
    atomic_write_bytes(npz_path, buffer.getvalue())
    return json_path, npz_path


__all__ = ["DEFAULT_FOCAL_FACTOR", "PREDICTIONS_HTML", "PREDICTIONS_JSON", "PREDICTIONS_NPZ", "Prediction",
           "camera_text", "find_rootnet", "frame_intrinsics", "load_run", "parse_intrinsics", "predict_crops",
           "predict_inputs", "save_predictions"]
