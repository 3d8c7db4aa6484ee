"""Synthetic multi-person scenes: MuPoTS-like sequences of several people in one camera image.

The single-person stream (:mod:`partnas_lib.data.synthetic`) renders one crop per person.  The
multi-person benchmark of the paper (MuPoTS-3D; method.md Sec. 3) instead gives *whole frames*
with 2-4 people at different depths, who occlude one another, and asks for every person's
absolute 3D pose.  This module makes such frames from the same ingredients:

1. **A scene set-up** (one per *sequence*, like a MuPoTS ``TS*`` recording): one camera of a
   jittered Human3.6M-like rig (:func:`~partnas_lib.camera.h36m_like_rig`) whose intrinsics are
   scaled down to a modest full frame (default :data:`FRAME_WIDTH` = 320 px; scaling ``f`` and
   ``c`` together keeps the field of view), 2-4 procedural subjects
   (:func:`~partnas_lib.data.poses.sample_body`), each with an action, a base heading and a spot
   on the floor 3.2-6.8 m in front of the camera, at least :data:`MIN_SEPARATION_MM` from the
   others and inside the field of view; one background and light for the whole sequence.
2. **Frames**: every frame draws a new pose of each person's action
   (:func:`~partnas_lib.data.poses.sample_angles` + forward kinematics), turned a little about
   the person's heading and moved a little about the person's spot; a pose is redrawn until all
   17 joints project inside the frame.  All people are ray cast *together*
   (:func:`~partnas_lib.data.render.render_people`), so the z-buffer puts a nearer person in front
   of a farther one, exactly as it handles self-occlusion.
3. **People**: each person gets the 3DMPPE box (:func:`~partnas_lib.data.h36m.process_bbox` of
   the tight box around the projected joints, the rule the MuPoTS-3D loader applies),
   ``joints_vis`` (False where the joint's pixel shows *another* person, i.e. the joint is
   hidden by someone in front -- MuPoTS' occlusion labels), and a "universal skeleton" copy of
   the joints (:func:`universal_skeleton`, bones rescaled to the mean body around a fixed
   pelvis, the counterpart of MuPoTS' ``univ_annot3``).
4. **Crops**: :func:`frame_samples` cuts each person's box out of the frame
   (:func:`crop_antialiased`) into an ordinary :class:`~partnas_lib.data.sample.Sample`, so the
   single-person network and RootNet run on it unchanged, with meta ``image_id``,
   ``sequence``, ``frame``, ``person`` for regrouping people into images (as
   :mod:`partnas_lib.data.mupots` does).

Reproducibility.  Sequence ``s`` of stream ``seed`` sets up its scene with
``np.random.default_rng([seed, MULTI_STREAM, s])`` and frame ``f`` draws poses with
``np.random.default_rng([seed, MULTI_STREAM, s, f + 1])``; so any frame can be rendered alone and
equals the same frame rendered inside its split (the notebook and the detection-box evaluation
rely on this).  ``seed`` is :func:`~partnas_lib.data.synthetic.split_seed` of the split, so train,
val and test never share a scene, and the streams differ from the single-person ones.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from partnas_lib.camera import Camera, h36m_like_rig
from partnas_lib.data.h36m import crop_square, process_bbox, tight_bbox
from partnas_lib.data.poses import (ACTIONS, ANKLE_HEIGHT, CHAIR_HEIGHT, Body, forward_kinematics, neutral_angles,
                                    place_in_world, sample_angles, sample_body)
from partnas_lib.data.render import render_people
from partnas_lib.data.sample import Sample, SampleArrays
from partnas_lib.data.synthetic import RENDER_VERSION, load_arrays, save_arrays, split_seed
from partnas_lib.eval.mupots_scorer import rescale_bones
from partnas_lib.skeleton import ROOT

#: Bump when scenes, poses or crops change: part of the cache key (with the renderer's version).
MULTI_RENDER_VERSION = 1
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
#: Sequences of a test split (MuPoTS-3D has 20) and mean people per frame (for split sizes).
TEST_SEQUENCES = 20
MEAN_PEOPLE_PER_FRAME = 3.0
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
                 sequence: str = "S01", index: int = 0) -> SceneSetup:
    """Draw a scene set-up (see the module docstring).  Spots lie at a ground distance of
    :data:`GROUND_DISTANCE_MM` along the view and within 70 % of the half field of view (less
    400 mm, so arms fit), each at least :data:`MIN_SEPARATION_MM` from the others."""
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
            if all(np.linalg.norm(xy - p.ground_xy) >= MIN_SEPARATION_MM for p in people):
                break
        else:
            raise RuntimeError(f"could not place {n} people at least {MIN_SEPARATION_MM} mm apart")
        people.append(PersonSetup(body=sample_body(rng), action=str(rng.choice(ACTIONS)), ground_xy=xy,
                                  yaw_deg=float(rng.uniform(0.0, 360.0))))
    return SceneSetup(camera=camera, people=people, render_seed=int(rng.integers(2**31)), sequence=sequence,
                      index=index)


def pose_at(rng: np.random.Generator, body: Body, action: str, yaw_deg: float, position_xy: np.ndarray) -> np.ndarray:
    """A world pose ``(17, 3)`` of ``action`` for ``body``, pelvis above ``position_xy``, facing
    ``yaw_deg``, standing on the floor (or sitting at chair height), by the rules of
    :func:`~partnas_lib.data.poses.sample_pose` but at a chosen place and heading."""
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
    :meth:`~partnas_lib.data.poses.Body.mean` in its neutral pose), and the bones are those the
    MuPoTS-3D scorer rescales along (:data:`~partnas_lib.eval.mupots_scorer.BONES_SAFE_ORDER`,
    head top and head hanging off the thorax), so this is exactly
    :func:`~partnas_lib.eval.mupots_scorer.rescale_bones` towards the reference: each joint = its
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


# --------------------------------------------------------------------------------------------
# Per-person crops
# --------------------------------------------------------------------------------------------

def crop_antialiased(image: np.ndarray, bbox: Sequence[float], size: int, max_factor: int = 4) -> np.ndarray:
    """The ``size x size`` crop of ``bbox`` from ``image``, area-averaged when shrinking.

    The 3DMPPE crop (:func:`~partnas_lib.data.h36m.crop_square`, plain bilinear) aliases when a
    box much larger than ``size`` is shrunk.  Here the crop is first sampled at ``k`` times the
    resolution (``k = ceil(box side / size)``, at most ``max_factor``) and each ``k x k`` block is
    averaged: block ``(i, j)`` covers exactly crop pixel ``(i, j)``, so joints stay aligned
    (:func:`~partnas_lib.camera.image_to_crop`).  Like the renders the network trains on, edges
    come out antialiased.
    """
    k = int(min(max_factor, max(1, math.ceil(float(max(bbox[2], bbox[3])) / size))))
    fine = crop_square(image, bbox, size * k)
    if k == 1:
        return fine
    blocks = fine.reshape(size, k, size, k, 3).astype(np.float32).mean(axis=(1, 3))
    return np.clip(np.rint(blocks), 0, 255).astype(np.uint8)


def person_meta(frame: MultiPersonFrame, person: int, **extra: Any) -> dict[str, Any]:
    """JSON-safe meta of one person (the keys the MuPoTS-3D loader uses, plus the scene's)."""
    p = frame.people[person]
    return {
        "source": "synthetic-multi", "sequence": frame.sequence, "subject": f"{frame.sequence}-p{person}",
        "action": p.action, "camera": frame.camera.name, "frame": frame.frame, "person": person,
        "image_id": frame.image_id, "file_name": frame.file_name, "is_valid": True,
        "frame_size": list(frame.size), "occluded_joints": int((~p.joints_vis).sum()),
        "joints_3d_univ": np.round(p.joints_univ, 3).tolist(), **extra,
    }


def frame_samples(frame: MultiPersonFrame, image_size: int, **meta: Any) -> list[Sample]:
    """One :class:`Sample` per person of ``frame``: the crop of its ground-truth box."""
    out = []
    for i, p in enumerate(frame.people):
        out.append(Sample(
            image=crop_antialiased(frame.image, p.bbox, image_size), joints_2d=p.joints_2d, joints_3d=p.joints_cam,
            joints_vis=p.joints_vis, root_depth=p.root_depth, intrinsics=frame.intrinsics, bbox=p.bbox,
            meta=person_meta(frame, i, **meta),
        ))
    return out


def crop_boxes(frame_image: np.ndarray, boxes: np.ndarray, image_size: int) -> np.ndarray:
    """Crops ``(N, S, S, 3)`` of arbitrary (e.g. detector) boxes ``(N, 4)`` from one frame."""
    return np.stack([crop_antialiased(frame_image, b, image_size) for b in np.asarray(boxes, float).reshape(-1, 4)])


# --------------------------------------------------------------------------------------------
# Splits
# --------------------------------------------------------------------------------------------

def split_layout(split: str, num_people: int) -> tuple[int, int]:
    """``(sequences, frames per sequence)`` giving about ``num_people`` people.

    ``test``: :data:`TEST_SEQUENCES` sequences like MuPoTS-3D, as many frames as needed.
    ``train`` / ``val``: many short sequences (2 frames), for variety of set-ups.
    """
    if num_people < 1:
        raise ValueError(f"num_people must be >= 1, got {num_people}")
    if split == "test":
        return TEST_SEQUENCES, max(1, round(num_people / (TEST_SEQUENCES * MEAN_PEOPLE_PER_FRAME)))
    return max(1, math.ceil(num_people / (2 * MEAN_PEOPLE_PER_FRAME))), 2


def multi_cache_path(cache_dir: str | Path, split: str, num_sequences: int, frames_per_sequence: int, base_seed: int,
                     image_size: int, width: int, supersample: int) -> Path:
    """Cache file of a split's person crops: ``multi-<hash>.npz`` over every argument that
    changes the data, :data:`MULTI_RENDER_VERSION` and the renderer's
    :data:`~partnas_lib.data.synthetic.RENDER_VERSION`."""
    key = json.dumps(dict(version=MULTI_RENDER_VERSION, render=RENDER_VERSION, split=split, sequences=int(num_sequences),
                          frames=int(frames_per_sequence), base_seed=int(base_seed), image_size=int(image_size),
                          width=int(width), supersample=int(supersample)), sort_keys=True)
    return Path(cache_dir) / f"multi-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"


def generate_multi_people(seed: int, num_sequences: int, frames_per_sequence: int, image_size: int,
                          width: int = FRAME_WIDTH, supersample: int = 2, progress: bool = False,
                          **meta: Any) -> SampleArrays:
    """Every person of every frame of sequences ``0 .. num_sequences - 1``, as crops."""
    frames: Iterator[MultiPersonFrame] = iter_frames(seed, range(num_sequences), frames_per_sequence, width,
                                                     supersample)
    if progress:
        from tqdm.auto import tqdm

        frames = tqdm(frames, total=num_sequences * frames_per_sequence, desc=f"rendering scenes (seed {seed})",
                      unit="frame")
    samples: list[Sample] = []
    for frame in frames:
        samples.extend(frame_samples(frame, image_size, seed=seed, **meta))
    return SampleArrays.from_samples(samples)


def load_multi_split(split: str, num_people: int, base_seed: int, image_size: int, width: int = FRAME_WIDTH,
                     supersample: int = 2, cache_dir: str | Path | None = None, progress: bool = True) -> SampleArrays:
    """About ``num_people`` people (:func:`split_layout`) of the multi-person ``split``, cropped
    to ``image_size``; cached in ``cache_dir`` (``None`` renders every time)."""
    sequences, frames = split_layout(split, num_people)
    seed = split_seed(base_seed, split)
    path = None
    if cache_dir is not None:
        path = multi_cache_path(cache_dir, split, sequences, frames, base_seed, image_size, width, supersample)
        if path.exists():
            try:
                return load_arrays(path)
            except Exception as err:  # corrupt or truncated
                warnings.warn(f"multi-person cache {path} is unreadable ({err}); rendering it again", stacklevel=2)
    arrays = generate_multi_people(seed, sequences, frames, image_size, width, supersample, progress, split=split)
    if path is not None:
        save_arrays(arrays, path)
    return arrays


def load_frame(split: str, sequence: int, frame: int, base_seed: int = 0, width: int = FRAME_WIDTH,
               supersample: int = 2, frames_per_sequence: int | None = None) -> MultiPersonFrame:
    """Render one frame of a split alone (identical to the same frame inside the split).

    ``frames_per_sequence`` only sets the ``image_id`` (``sequence * frames_per_sequence +
    frame``); give the split's value to match the ids of :func:`load_multi_split`.
    """
    seed = split_seed(base_seed, split)
    setup = scene_setup(seed, sequence, width)
    fps = frames_per_sequence if frames_per_sequence is not None else frame + 1
    return render_frame(setup, seed, frame, supersample, image_id=sequence * fps + frame)


__all__ = [
    "FRAME_WIDTH", "GROUND_DISTANCE_MM", "MIN_SEPARATION_MM", "MULTI_RENDER_VERSION", "MULTI_STREAM",
    "MultiPersonFrame", "PEOPLE_PER_SCENE", "PersonSetup", "SceneSetup", "ScenePerson", "TEST_SEQUENCES",
    "crop_antialiased", "crop_boxes", "frame_camera", "frame_samples", "generate_multi_people", "iter_frames",
    "load_frame", "load_multi_split", "multi_cache_path", "person_meta", "pose_at", "render_frame", "sample_setup",
    "scene_setup", "sequence_name", "split_layout", "universal_skeleton",
]
