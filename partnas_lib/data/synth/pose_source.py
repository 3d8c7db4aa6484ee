"""Where the synthetic people's poses come from: procedural actions or real motion capture.

``DataConfig.pose_source`` names the source (:func:`parse_pose_source`):

``"procedural"``
    the hand-written actions of :mod:`~partnas_lib.data.synth.actions` (the default);
``"bvh:/path/to/folder"``
    real motion capture: the retargeted clips of a BVH folder
    (:mod:`partnas_lib.data.mocap.library`).  Each split draws only from its own clips
    (:func:`~partnas_lib.data.mocap.library.assign_splits`), so test poses come from motions
    never seen in training.  :class:`MocapPoses` draws a clip, a frame, a heading and a place.
``"mix:F:bvh:/path/to/folder"``
    both: each sample takes its pose from the clips with probability ``F`` (0 < F < 1) and
    from the procedural actions otherwise -- real motion where you have it, the procedural
    repertoire's coverage everywhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from partnas_lib.config import POSE_SOURCE_FORMS, split_pose_source
from partnas_lib.data.mocap.library import MocapClip, load_mocap_folder
from partnas_lib.data.synth.actions import PLACEMENT_RADIUS, place_in_world


def parse_pose_source(spec: str) -> Path | None:
    """The BVH folder of a pose source: ``"procedural"`` -> None; ``"bvh:/path/to/folder"`` and
    ``"mix:F:bvh:/path/to/folder"`` -> the folder (``ValueError`` for anything else; the grammar
    is :func:`partnas_lib.config.split_pose_source`)."""
    folder = split_pose_source(spec)[1]
    return None if folder is None else Path(os.path.expanduser(folder))


def mocap_fraction(spec: str) -> float:
    """The share of samples whose pose comes from motion capture: 0 for ``"procedural"``, 1 for
    ``"bvh:..."``, ``F`` for ``"mix:F:bvh:..."``."""
    return split_pose_source(spec)[0]


@dataclass
class MocapPoses:
    """The clips of one split, drawn from by :meth:`sample`."""

    clips: list[MocapClip]
    split: str
    root: str = ""
    fraction: float = 1.0  # share of samples drawn from the clips; the rest are procedural

    def __post_init__(self) -> None:
        if not self.clips:
            raise ValueError(f"BVH folder {self.root}: no clip in split {self.split!r}")

    def takes(self, rng: np.random.Generator) -> bool:
        """Whether this sample's pose comes from the clips.  A pure BVH source (``fraction`` 1)
        draws nothing from ``rng``, so its samples are the same as before mixing existed."""
        return self.fraction >= 1.0 or bool(rng.uniform() < self.fraction)

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
    """The :class:`MocapPoses` of ``split`` for a ``"bvh:DIR"`` or ``"mix:F:bvh:DIR"`` pose source
    (None if procedural)."""
    root = parse_pose_source(pose_source)
    if root is None:
        return None
    library = load_mocap_folder(root, skeleton=skeleton)
    return MocapPoses(library.clips_in(split), split, library.root, mocap_fraction(pose_source))


__all__ = ["POSE_SOURCE_FORMS", "MocapPoses", "mocap_fraction", "mocap_poses", "parse_pose_source"]
