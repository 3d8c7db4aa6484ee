"""Synthetic multi-person scenes: MuPoTS-like sequences of several people in one camera image.

The single-person stream (:mod:`partnas_lib.data.synth.synthetic`) renders one crop per person.  The
multi-person benchmark of the paper (MuPoTS-3D; docs/method.md Sec. 3) instead gives *whole frames*
with 2-4 people at different depths, who occlude one another, and asks for every person's
absolute 3D pose.  This module makes such frames from the same ingredients:

1. **A scene set-up** (one per *sequence*, like a MuPoTS ``TS*`` recording): one camera of a
   jittered Human3.6M-like rig (:func:`~partnas_lib.camera.h36m_like_rig`) whose intrinsics are
   scaled down to a modest full frame (default :data:`FRAME_WIDTH` = 320 px; scaling ``f`` and
   ``c`` together keeps the field of view), 2-4 procedural subjects
   (:func:`~partnas_lib.data.synth.body.sample_body`), each with an action, a base heading and a spot
   on the floor 3.2-6.8 m in front of the camera, at least :data:`MIN_SEPARATION_MM` from the
   others and inside the field of view; one background and light for the whole sequence.
2. **Frames**: every frame draws a new pose of each person's action
   (:func:`~partnas_lib.data.synth.actions.sample_angles` + forward kinematics), turned a little about
   the person's heading and moved a little about the person's spot; a pose is redrawn until all
   17 joints project inside the frame.  All people are ray cast *together*
   (:func:`~partnas_lib.data.synth.render.render_people`), so the z-buffer puts a nearer person in front
   of a farther one, exactly as it handles self-occlusion.
3. **People**: each person gets the 3DMPPE box (:func:`~partnas_lib.data.images.process_bbox` of
   the tight box around the projected joints, the rule the MuPoTS-3D loader applies),
   ``joints_vis`` (False where the joint's pixel shows *another* person, i.e. the joint is
   hidden by someone in front -- MuPoTS' occlusion labels), and a "universal skeleton" copy of
   the joints (:func:`universal_skeleton`, bones rescaled to the mean body around a fixed
   pelvis, the counterpart of MuPoTS' ``univ_annot3``).

Cutting the people out of the frames, splits and their cache are
:mod:`~partnas_lib.data.synth.scene_splits`' job.

Reproducibility.  Sequence ``s`` of stream ``seed`` sets up its scene with
``np.random.default_rng([seed, MULTI_STREAM, s])`` and frame ``f`` draws poses with
``np.random.default_rng([seed, MULTI_STREAM, s, f + 1])``; so any frame can be rendered alone and
equals the same frame rendered inside its split (the notebook and the detection-box evaluation
rely on this).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch

from partnas_lib.camera import Camera, h36m_like_rig
from partnas_lib.data.datasets.mupots_facts import rescale_bones
from partnas_lib.data.images import process_bbox, tight_bbox
from partnas_lib.data.synth.actions import ANKLE_HEIGHT, CHAIR_HEIGHT, draw_action, place_in_world, sample_angles
from partnas_lib.data.synth.body import Body, forward_kinematics, neutral_angles, sample_body
from partnas_lib.data.synth.render import render_people
from partnas_lib.skeleton import ROOT

#: Key that separates the multi-person random streams from the single-person ones.
MULTI_STREAM = 0x6D756C74
#: Default full-frame width (px); the height follows the camera's aspect (1000 x 1000 for H36M).
FRAME_WIDTH = 320
#: People per scene (inclusive range).
PEOPLE_PER_SCENE = (2, 4)
#: Ground distance of a person's spot from the camera, along the camera's viewing direction (mm).
GROUND_DISTANCE_MM = (3200.0, 6800.0)
#: Minimum floor distance between two people's spots (mm): bodies never interpenetrate.
MIN_SEPARATION_MM = 650.0
#: Per-frame jitter of a person's heading (deg, std) and position (mm, std) around the set-up.
FRAME_YAW_JITTER_DEG = 12.0
FRAME_POSITION_JITTER_MM = 60.0
_MAX_TRIES = 60


# --------------------------------------------------------------------------------------------
# Scene set-up
# --------------------------------------------------------------------------------------------

@dataclass
class PersonSetup:
    """One person of a scene: who (body, action) and where (floor spot, heading)."""

    body: Body
    action: str
    ground_xy: np.ndarray  # (2,) world mm
    yaw_deg: float


@dataclass
class SceneSetup:
    """What stays fixed over a sequence: camera, people, background and light (``render_seed``)."""

    camera: Camera
    people: list[PersonSetup]
    render_seed: int
    sequence: str
    index: int

    @property
    def size(self) -> tuple[int, int]:
        return int(self.camera.size[0]), int(self.camera.size[1])


def frame_camera(rng: np.random.Generator, width: int = FRAME_WIDTH) -> Camera:
    """One camera of a jittered Human3.6M-like rig, intrinsics scaled to a ``width``-px frame.

    Scaling ``f`` and ``c`` by ``width / 1000`` keeps the field of view (about 47 deg), so the
    perspective matches the single-person data; only the pixel count shrinks.  No distortion.
    """
    if width < 32:
        raise ValueError(f"frame width must be at least 32 px, got {width}")
    cam = h36m_like_rig(rng)[int(rng.integers(4))]
    s = width / cam.size[0]
    return Camera(f=cam.f * s, c=cam.c * s, R=cam.R, C=cam.C, size=(int(width), int(round(cam.size[1] * s))),
                  name=cam.name)


def _floor_axes(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Unit floor vectors (world XY) of the camera's viewing direction and of its right."""
    fwd, right = camera.R[2, :2], camera.R[0, :2]
    return fwd / np.linalg.norm(fwd), right / np.linalg.norm(right)


def sample_setup(rng: np.random.Generator, width: int = FRAME_WIDTH, num_people: int | None = None,
                 sequence: str = "S01", index: int = 0, min_separation_mm: float = MIN_SEPARATION_MM) -> SceneSetup:
    """Draw a scene set-up (see the module docstring).  Spots lie at a ground distance of
    :data:`GROUND_DISTANCE_MM` along the view and within 70 % of the half field of view (less
    400 mm, so arms fit), each at least ``min_separation_mm`` (default :data:`MIN_SEPARATION_MM`)
    from the others.  ``num_people=None`` draws 2-4 (:data:`PEOPLE_PER_SCENE`)."""
    camera = frame_camera(rng, width)
    n = int(rng.integers(PEOPLE_PER_SCENE[0], PEOPLE_PER_SCENE[1] + 1)) if num_people is None else int(num_people)
    if n < 1:
        raise ValueError(f"a scene needs at least one person, got {n}")
    fwd, right = _floor_axes(camera)
    half_tan = (camera.size[0] / 2.0) / camera.f[0]
    people: list[PersonSetup] = []
    for _ in range(n):
        for _ in range(200):
            d = rng.uniform(*GROUND_DISTANCE_MM)
            lateral = rng.uniform(-1.0, 1.0) * max(0.0, 0.7 * half_tan * d - 400.0)
            xy = camera.C[:2] + d * fwd + lateral * right
            if all(np.linalg.norm(xy - p.ground_xy) >= min_separation_mm for p in people):
                break
        else:
            raise RuntimeError(f"could not place {n} people at least {min_separation_mm} mm apart")
        people.append(PersonSetup(body=sample_body(rng), action=draw_action(rng), ground_xy=xy,
                                  yaw_deg=float(rng.uniform(0.0, 360.0))))
    return SceneSetup(camera=camera, people=people, render_seed=int(rng.integers(2**31)), sequence=sequence,
                      index=index)


def pose_at(rng: np.random.Generator, body: Body, action: str, yaw_deg: float, position_xy: np.ndarray) -> np.ndarray:
    """A world pose ``(17, 3)`` of ``action`` for ``body``, pelvis above ``position_xy``, facing
    ``yaw_deg``, standing on the floor (or sitting at chair height), by the rules of
    :func:`~partnas_lib.data.synth.actions.sample_pose` but at a chosen place and heading."""
    joints = forward_kinematics(body, sample_angles(rng, action))
    lift = rng.uniform(*ANKLE_HEIGHT) - min(joints[3, 2], joints[6, 2])
    if action == "sitting":
        lift = max(rng.uniform(*CHAIR_HEIGHT), lift)
    return place_in_world(joints, yaw_deg, position_xy, lift)


def universal_skeleton(joints: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """The pose with every bone rescaled to a standard body, pelvis fixed -- the synthetic
    counterpart of MuPoTS-3D's ``univ_annot3`` (a pose retargeted to one height-normalised
    skeleton).

    The standard body is ``reference`` (default: the mean Human3.6M body of
    :meth:`~partnas_lib.data.synth.body.Body.mean` in its neutral pose), and the bones are those the
    MuPoTS-3D scorer rescales along (:data:`~partnas_lib.data.datasets.mupots_facts.BONES_SAFE_ORDER`,
    head top and head hanging off the thorax), so this is exactly
    :func:`~partnas_lib.data.datasets.mupots_facts.rescale_bones` towards the reference: each joint = its
    moved parent + the original bone direction x the standard length.  Hence a perfect
    prediction, bone-rescaled to this ground truth as the official scorer does, lands on it
    exactly.  ``joints`` may have leading axes ``(..., 17, 3)``.
    """
    if reference is None:
        reference = forward_kinematics(Body.mean(), neutral_angles())
    return rescale_bones(joints, reference)


# --------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------

@dataclass
class ScenePerson:
    """One person in one frame (camera space mm, frame pixels)."""

    body: Body
    action: str
    joints_cam: np.ndarray   # (17, 3)
    joints_2d: np.ndarray    # (17, 2)
    joints_vis: np.ndarray   # (17,) bool: not hidden by another person
    joints_univ: np.ndarray  # (17, 3) universal skeleton, same pelvis
    bbox: np.ndarray         # (4,) the 3DMPPE box
    pixels: float            # visible area of the person in the frame (px)

    @property
    def root_depth(self) -> float:
        return float(self.joints_cam[ROOT, 2])


@dataclass
class MultiPersonFrame:
    """One rendered frame of a sequence: the image, its camera and its people."""

    image: np.ndarray       # (H, W, 3) uint8
    person_map: np.ndarray  # (H, W) int8: index of the person covering each pixel, -1 background
    camera: Camera
    people: list[ScenePerson]
    sequence: str
    sequence_index: int
    frame: int
    image_id: int

    @property
    def intrinsics(self) -> np.ndarray:
        return self.camera.intrinsics

    @property
    def size(self) -> tuple[int, int]:
        return int(self.camera.size[0]), int(self.camera.size[1])

    @property
    def file_name(self) -> str:
        return f"{self.sequence}/img_{self.frame:06d}"


def _inside(uv: np.ndarray, size: tuple[int, int], margin: float = 1.0) -> bool:
    return bool(np.all(uv >= margin) and np.all(uv[:, 0] <= size[0] - margin) and np.all(uv[:, 1] <= size[1] - margin))


def _occluded_by_others(uv: np.ndarray, depth_mm: np.ndarray, person: int, person_map: np.ndarray,
                        depth_map: np.ndarray) -> np.ndarray:
    """``(17,)`` True where the pixel under a joint shows *another* person whose surface there
    is nearer than the joint (a joint on one's own silhouette edge, over someone standing
    behind, is not occluded)."""
    h, w = person_map.shape
    cols = np.clip(np.floor(uv[:, 0]).astype(int), 0, w - 1)
    rows = np.clip(np.floor(uv[:, 1]).astype(int), 0, h - 1)
    shown = person_map[rows, cols]
    return (shown >= 0) & (shown != person) & (depth_map[rows, cols] < depth_mm)


def render_frame(setup: SceneSetup, seed: int, frame: int, supersample: int = 2, image_id: int = 0) -> MultiPersonFrame:
    """Frame ``frame`` of the sequence ``setup`` of stream ``seed`` (see the module docstring)."""
    rng = np.random.default_rng([seed, MULTI_STREAM, setup.index, frame + 1])
    cam, size = setup.camera, setup.size
    joints_cam: list[np.ndarray] = []
    for p in setup.people:
        for _ in range(_MAX_TRIES):
            yaw = p.yaw_deg + rng.normal(0.0, FRAME_YAW_JITTER_DEG)
            xy = p.ground_xy + rng.normal(0.0, FRAME_POSITION_JITTER_MM, 2)
            X = cam.world_to_camera(pose_at(rng, p.body, p.action, yaw, xy))
            if np.all(X[:, 2] > 500.0) and _inside(cam.project(X), size):
                break
        else:
            raise RuntimeError(f"sequence {setup.sequence} frame {frame}: could not draw a pose of "
                               f"{p.action!r} inside the frame in {_MAX_TRIES} tries")
        joints_cam.append(X)
    rendered = render_people(joints_cam, [p.body for p in setup.people], cam.intrinsics, size[0], size[1],
                             np.random.default_rng(setup.render_seed), supersample)
    people = []
    for i, (p, X) in enumerate(zip(setup.people, joints_cam)):
        uv = cam.project(X)
        people.append(ScenePerson(
            body=p.body, action=p.action, joints_cam=X, joints_2d=uv,
            joints_vis=~_occluded_by_others(uv, X[:, 2], i, rendered.person_map, rendered.depth),
            joints_univ=universal_skeleton(X),
            bbox=process_bbox(tight_bbox(uv), size[0], size[1]), pixels=float(rendered.coverage[i].sum()),
        ))
    return MultiPersonFrame(image=rendered.image, person_map=rendered.person_map.astype(np.int8), camera=cam,
                            people=people, sequence=setup.sequence, sequence_index=setup.index, frame=frame,
                            image_id=image_id)


def sequence_name(index: int) -> str:
    """``"S01"``, ``"S02"``, ... (1-based, like MuPoTS' ``TS1``..``TS20``)."""
    return f"S{index + 1:02d}"


def scene_setup(seed: int, index: int, width: int = FRAME_WIDTH) -> SceneSetup:
    """The set-up of sequence ``index`` of stream ``seed``."""
    rng = np.random.default_rng([seed, MULTI_STREAM, index])
    return sample_setup(rng, width, sequence=sequence_name(index), index=index)


def iter_frames(seed: int, sequences: Sequence[int], frames_per_sequence: int, width: int = FRAME_WIDTH,
                supersample: int = 2, workers: int | None = None) -> Iterator[MultiPersonFrame]:
    """Render the frames of ``sequences`` (indices) in order, ``workers`` sequences at a time
    (threads with single-threaded torch each; default: torch's thread count).  ``image_id`` is
    ``sequence_index * frames_per_sequence + frame``: unique within a split."""
    if frames_per_sequence < 1:
        raise ValueError(f"frames_per_sequence must be >= 1, got {frames_per_sequence}")

    def render_sequence(s: int) -> list[MultiPersonFrame]:
        setup = scene_setup(seed, s, width)
        return [render_frame(setup, seed, f, supersample, image_id=s * frames_per_sequence + f)
                for f in range(frames_per_sequence)]

    seqs = list(sequences)
    n_workers = max(1, min(len(seqs), torch.get_num_threads() if workers is None else workers))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=n_workers) as pool:
            for lo in range(0, len(seqs), n_workers):
                for frames in pool.map(render_sequence, seqs[lo:lo + n_workers]):
                    yield from frames
    finally:
        torch.set_num_threads(before)


__all__ = [
    "FRAME_WIDTH", "GROUND_DISTANCE_MM", "MIN_SEPARATION_MM", "MULTI_STREAM", "MultiPersonFrame", "PEOPLE_PER_SCENE",
    "PersonSetup", "SceneSetup", "ScenePerson", "frame_camera", "iter_frames", "pose_at", "render_frame",
    "sample_setup", "scene_setup", "sequence_name", "universal_skeleton",
]
