"""Synthetic training data: procedural people, a Human3.6M-like camera, a rendered crop.

Each sample follows the same path a real Human3.6M frame does (docs/architecture.md, "Data flow"):

1. a subject (:func:`~partnas_lib.data.synth.body.sample_body`) strikes a pose
   (:func:`~partnas_lib.data.synth.actions.sample_pose`) in a world with the floor at Z = 0;
2. one camera of a freshly jittered Human3.6M-like rig (:func:`~partnas_lib.camera.h36m_like_rig`)
   looks at it: joints go to camera space and are projected to pixels of a 1000 x 1000 image;
3. the 3DMPPE crop box around the 2D joints (:func:`~partnas_lib.camera.square_bbox`, margin
   1.25, slightly jittered) defines a virtual crop camera
   (:func:`~partnas_lib.camera.crop_intrinsics`), through which the person is ray cast
   (:func:`~partnas_lib.data.synth.render.render_batch`) at ``image_size`` pixels.

The records are ordinary :class:`~partnas_lib.data.sample.SampleArrays`, so the rest of the
package cannot tell them from real data.

Pose sources (:mod:`~partnas_lib.data.synth.pose_source`).  ``pose_source="procedural"`` (the
default) draws step 1 from the procedural actions above.  ``pose_source="bvh:/path/to/folder"``
draws real motion capture instead (:mod:`partnas_lib.data.mocap`): sample ``i`` picks a clip of
its split and a frame in it (with its own generator), retargeted to Human3.6M-17, turned to a
random yaw and placed at a random point with its feet on the floor; a random
:class:`~partnas_lib.data.synth.body.Body` (fitted to the mocap's size) only dresses it, since
the bone lengths are the actor's.  Splits of a BVH folder hold different clips
(:func:`partnas_lib.data.mocap.library.assign_splits`), so test poses come from motions never
seen in training.

Reproducibility.  Sample ``i`` of seed ``s`` uses its own generator
``np.random.default_rng([s, i])`` for *everything* (body, action, pose, camera, background,
light, noise), so it is the same whether it is generated alone, in a batch, or in any chunking
of ``start``/``count``.  Splits use different seeds (:func:`split_seed`), so train, val and test
never share a sample.
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from partnas_lib.camera import crop_intrinsics, h36m_like_rig, square_bbox
from partnas_lib.data.mocap.library import folder_fingerprint
from partnas_lib.data.sample import SampleArrays
from partnas_lib.data.synth.actions import sample_pose
from partnas_lib.data.synth.body import body_for_joints, sample_body
from partnas_lib.data.synth.pose_source import MocapPoses, mocap_fraction, mocap_poses, parse_pose_source
from partnas_lib.data.synth.render import render_batch
from partnas_lib.io import atomic_write_bytes
from partnas_lib.skeleton import NUM_JOINTS

#: Bump whenever poses, camera placement or rendering change: it is part of the cache key,
#: so stale caches are never read.
RENDER_VERSION = 3  # 2: the everyday action repertoire; 3: foot widths and pelvic tilt in gait

#: Offsets that :func:`split_seed` adds for each split.
SPLIT_OFFSETS: dict[str, int] = {"train": 0, "val": 1, "test": 2}

#: Relative jitter of the crop box: scale factor range and centre shift (fraction of the side).
BBOX_SCALE_JITTER = (0.95, 1.08)
BBOX_SHIFT_JITTER = 0.04
_MAX_TRIES = 100


def split_seed(base_seed: int, split: str) -> int:
    """The data seed of ``split`` for a config seed: ``base_seed * 1000 + 101 + offset``.

    Seeds of different splits are always different (offsets 0, 1, 2), and because every base
    seed owns its own block of 1000 seeds, no two (base seed, split) pairs share a seed: train,
    val and test never contain the same sample, for any base seeds.
    """
    if split not in SPLIT_OFFSETS:
        raise ValueError(f"unknown split {split!r}; expected one of {sorted(SPLIT_OFFSETS)}")
    if int(base_seed) < 0:
        raise ValueError(f"base_seed must be >= 0, got {base_seed}")
    return int(base_seed) * 1000 + 101 + SPLIT_OFFSETS[split]


def _sample_geometry(rng: np.random.Generator, image_size: int, poses: MocapPoses | None = None) -> dict[str, Any]:
    """Body, pose, camera and crop of one sample.  Resamples (with the same generator, hence
    deterministically) if the person is behind or too close to the camera or leaves the image.

    ``poses=None`` draws a procedural pose; otherwise the pose comes from the mocap clips of
    ``poses`` and the body is fitted to it (:func:`~partnas_lib.data.synth.body.body_for_joints`).
    """
    for _ in range(_MAX_TRIES):
        body = sample_body(rng)
        extra: dict[str, Any] = {}
        if poses is None or not poses.takes(rng):
            joints_world, action = sample_pose(rng, body)
        else:
            joints_world, extra = poses.sample(rng)
            action = extra.pop("action")
            body = body_for_joints(body, joints_world)
        rig = h36m_like_rig(rng)
        cam = rig[int(rng.integers(len(rig)))]
        joints_cam = cam.world_to_camera(joints_world)
        scale = rng.uniform(*BBOX_SCALE_JITTER)
        shift = rng.uniform(-BBOX_SHIFT_JITTER, BBOX_SHIFT_JITTER, 2)
        if np.any(joints_cam[:, 2] < 1000.0) or not np.all(np.isfinite(joints_cam)):
            continue
        joints_2d = cam.project(joints_cam)
        width, height = cam.size
        inside = (joints_2d >= 0).all() and (joints_2d[:, 0] < width).all() and (joints_2d[:, 1] < height).all()
        if not inside:
            continue
        bbox = square_bbox(joints_2d, margin=1.25)
        if bbox[2] < 8.0:  # degenerate (should never happen for a person 4-7 m away)
            continue
        side = bbox[2] * scale
        centre = bbox[:2] + bbox[2:] / 2 + shift * bbox[2]
        bbox = np.array([centre[0] - side / 2, centre[1] - side / 2, side, side])
        return dict(body=body, action=action, camera=cam, joints_cam=joints_cam, joints_2d=joints_2d,
                    bbox=bbox, crop_intr=crop_intrinsics(cam.intrinsics, bbox, image_size), extra=extra)
    raise RuntimeError(f"could not draw a valid synthetic sample in {_MAX_TRIES} tries")


def generate_synthetic(seed: int, start: int, count: int, image_size: int, supersample: int = 2,
                       batch_size: int = 128, progress: bool = False, pose_source: str = "procedural",
                       split: str = "train") -> SampleArrays:
    """Samples ``start .. start + count - 1`` of the synthetic stream ``seed``.

    Sample ``i`` is fully determined by ``(seed, i)`` (and, for a BVH pose source, the folder's
    clips; see the module docstring).  Rendering runs ``batch_size`` images at a time;
    ``progress`` shows a tqdm bar over those batches.  ``pose_source`` is ``"procedural"`` or
    ``"bvh:/path/to/folder"``; with BVH poses, ``split`` selects the clips drawn from (it does
    not change procedural samples, whose splits differ by seed).
    """
    if count <= 0:
        raise ValueError(f"count must be positive, got {count}")
    if image_size < 8:
        raise ValueError(f"image_size must be at least 8 px, got {image_size}")
    poses = mocap_poses(pose_source, split)
    images = np.empty((count, image_size, image_size, 3), np.uint8)
    joints_2d = np.empty((count, NUM_JOINTS, 2), np.float32)
    joints_3d = np.empty((count, NUM_JOINTS, 3), np.float32)
    intrinsics = np.empty((count, 4), np.float32)
    bboxes = np.empty((count, 4), np.float32)
    meta: list[dict[str, Any]] = []

    starts = range(0, count, batch_size)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc=f"rendering synthetic seed {seed}", unit="batch")
    for lo in starts:
        hi = min(lo + batch_size, count)
        rngs = [np.random.default_rng([seed, start + j]) for j in range(lo, hi)]
        geo = [_sample_geometry(rng, image_size, poses) for rng in rngs]
        images[lo:hi] = render_batch(
            np.stack([g["joints_cam"] for g in geo]), np.stack([g["crop_intr"] for g in geo]),
            [g["body"] for g in geo], image_size, rngs, supersample=supersample,
        )
        for j, g in zip(range(lo, hi), geo):
            joints_2d[j] = g["joints_2d"]
            joints_3d[j] = g["joints_cam"]
            intrinsics[j] = g["camera"].intrinsics
            bboxes[j] = g["bbox"]
            meta.append(dict(subject=f"synthetic-{seed}-{start + j}", action=g["action"], frame=start + j,
                             camera=g["camera"].name, source="synthetic", **g["extra"]))
    return SampleArrays(
        images=images, joints_2d=joints_2d, joints_3d=joints_3d,
        joints_vis=np.ones((count, NUM_JOINTS), bool), root_depth=joints_3d[:, 0, 2].copy(),
        intrinsics=intrinsics, bbox=bboxes, has_3d=np.ones(count, bool), meta=meta,
    )


# --------------------------------------------------------------------------------------------
# Cached splits
# --------------------------------------------------------------------------------------------

_ARRAY_FIELDS = ("images", "joints_2d", "joints_3d", "joints_vis", "root_depth", "intrinsics", "bbox", "has_3d")


def cache_path(cache_dir: str | Path, split: str, count: int, base_seed: int, image_size: int,
               supersample: int, pose_source: str = "procedural") -> Path:
    """Cache file of a split: ``synthetic-<hash>.npz`` where the hash covers every argument
    that changes the data plus :data:`RENDER_VERSION`.

    A BVH pose source adds the folder and its :func:`~partnas_lib.data.mocap.library.folder_fingerprint`
    (every clip's name, size and mtime, and the reader's version), so editing the folder
    re-renders; procedural keys are unchanged from before pose sources existed.
    """
    fields: dict[str, Any] = dict(version=RENDER_VERSION, split=split, count=int(count), base_seed=int(base_seed),
                                  image_size=int(image_size), supersample=int(supersample))
    folder = parse_pose_source(pose_source)
    if folder is not None:
        fields.update(pose_source=f"bvh:{folder.resolve()}", bvh=folder_fingerprint(folder))
        fraction = mocap_fraction(pose_source)
        if fraction < 1.0:
            fields.update(mocap_fraction=fraction)
    key = json.dumps(fields, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    return Path(cache_dir) / f"synthetic-{digest}.npz"


def save_arrays(arrays: SampleArrays, path: str | Path) -> None:
    """Write ``arrays`` to ``path`` (.npz) atomically: a temp file in the same folder, flushed
    and fsynced, then renamed over ``path``, so readers never see half a file."""
    payload = {name: getattr(arrays, name) for name in _ARRAY_FIELDS}
    payload["meta"] = np.array([json.dumps(m, sort_keys=True) for m in arrays.meta])
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    atomic_write_bytes(path, buffer.getvalue())


def load_arrays(path: str | Path) -> SampleArrays:
    """Read a file written by :func:`save_arrays` (no pickle involved)."""
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in (*_ARRAY_FIELDS, "meta") if k not in z.files]
        if missing:
            raise ValueError(f"{path}: missing arrays {missing}")
        fields = {k: z[k] for k in _ARRAY_FIELDS}
        meta = [json.loads(str(s)) for s in z["meta"]]
    arrays = SampleArrays(**fields, meta=meta)
    arrays.validate(str(path))
    return arrays


def load_synthetic_split(split: str, count: int, base_seed: int, image_size: int, supersample: int = 2,
                         cache_dir: str | Path | None = None, progress: bool = True,
                         pose_source: str = "procedural") -> SampleArrays:
    """``count`` synthetic samples of ``split`` ("train", "val" or "test") for ``base_seed``.

    ``pose_source``: ``"procedural"`` or ``"bvh:/path/to/folder"`` (poses from that split's clips).

    With ``cache_dir`` the split is read from (or rendered once into)
    :func:`cache_path`; ``cache_dir=None`` renders every time.  A cache file that cannot be read
    or does not match the request is re-rendered with a warning.
    """
    seed = split_seed(base_seed, split)
    path = None
    if cache_dir is not None:
        path = cache_path(cache_dir, split, count, base_seed, image_size, supersample, pose_source)
        if path.exists():
            try:
                arrays = load_arrays(path)
                if len(arrays) != count or arrays.images.shape[1:] != (image_size, image_size, 3):
                    raise ValueError(f"holds {len(arrays)} images of shape {arrays.images.shape[1:]}")
                return arrays
            except Exception as err:  # corrupt, truncated or foreign file
                warnings.warn(f"synthetic cache {path} is unreadable ({err}); rendering it again", stacklevel=2)
    arrays = generate_synthetic(seed, 0, count, image_size, supersample=supersample, progress=progress,
                                pose_source=pose_source, split=split)
    if path is not None:
        save_arrays(arrays, path)
    return arrays


__all__ = [
    "RENDER_VERSION", "SPLIT_OFFSETS", "cache_path", "generate_synthetic", "load_arrays",
    "load_synthetic_split", "save_arrays", "split_seed",
]
