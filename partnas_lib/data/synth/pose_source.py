"""Where the synthetic people's poses come from: procedural actions or real motion capture.

``DataConfig.pose_source`` names the source (:func:`parse_pose_source`):

``"procedural"``
    the hand-written actions of :mod:`~partnas_lib.data.synth.actions` (the default);
``"bvh:/path/to/folder"``
    real motion capture: the retargeted clips of a BVH folder
    (:mod:`partnas_lib.data.mocap.library`).  Each split draws only from its own clips
    (:func:`~partnas_lib.data.mocap.library.assign_splits`), so test poses come from motions
    never seen in training.  :class:`MocapPoses` draws a clip, a frame, a heading and a place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from partnas_lib.data.mocap.library import MocapClip, load_mocap_folder
from partnas_lib.data.synth.actions import PLACEMENT_RADIUS, place_in_world


def parse_pose_source(spec: str) -> Path | None:
    """``"procedural"`` -> None; ``"bvh:/path/to/folder"`` -> the folder (``ValueError`` otherwise)."""
    if spec == "procedural":
        return None
    if spec.startswith("bvh:") and spec[4:].strip():
        return Path(os.path.expanduser(spec[4:].strip()))
    raise ValueError(f"pose source {spec!r}: expected 'procedural' or 'bvh:/path/to/folder'")


@dataclass
class MocapPoses:
    """The clips of one split, drawn from by :meth:`sample`."""

    clips: list[MocapClip]
    split: str
    root: str = ""

    def __post_init__(self) -> None:
        if not self.clips:
            raise ValueError(f"BVH folder {self.root}: no clip in split {self.split!r}")

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        """A world pose ``(17, 3)`` mm and its meta, using ``rng`` only.

        A clip is drawn uniformly (so short and long motions are equally likely), then a frame
        uniformly within it.  The pose is turned about the vertical by a yaw uniform in
        0-360 deg and its pelvis moved to a point uniform in the disc of radius
        :data:`~partnas_lib.data.synth.actions.PLACEMENT_RADIUS` around the capture centre; heights are
        kept (feet on the floor).
        """
        clip = self.clips[int(rng.integers(len(self.clips)))]
        frame = int(rng.integers(clip.num_frames))
        joints = clip.joints[frame].astype(np.float64)
        joints[:, :2] -= joints[0, :2]
        yaw = rng.uniform(0.0, 360.0)
        radius = PLACEMENT_RADIUS * np.sqrt(rng.uniform())
        theta = rng.uniform(0.0, 2 * np.pi)
        world = place_in_world(joints, yaw, radius * np.array([np.cos(theta), np.sin(theta)]), 0.0)
        return world, {"action": clip.action, "clip": clip.name, "clip_frame": frame, "style": clip.style}


def mocap_poses(pose_source: str, split: str, skeleton: str | None = None) -> MocapPoses | None:
    """The :class:`MocapPoses` of ``split`` for a ``"bvh:DIR"`` pose source (None if procedural)."""
    root = parse_pose_source(pose_source)
    if root is None:
        return None
    library = load_mocap_folder(root, skeleton=skeleton)
    return MocapPoses(library.clips_in(split), split, library.root)


__all__ = ["MocapPoses", "mocap_poses", "parse_pose_source"]
