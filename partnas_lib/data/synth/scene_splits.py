"""Multi-person splits: every person of every scene frame as a crop, and their cache.

:mod:`~partnas_lib.data.synth.scenes` renders whole frames.  For training and evaluation,
:func:`frame_samples` cuts each person's box out of a frame
(:func:`~partnas_lib.data.images.crop_antialiased`) into an ordinary
:class:`~partnas_lib.data.sample.Sample`, so the single-person network and RootNet run on it
unchanged, with meta ``image_id``, ``sequence``, ``frame``, ``person`` for regrouping people
into images (as the MuPoTS-3D loaders do, :mod:`partnas_lib.data.datasets.mupots`).

A split (:func:`load_multi_split`) is a number of sequences of a few frames each
(:func:`split_layout`), rendered from the stream :func:`~partnas_lib.data.synth.synthetic.split_seed`
of the split -- so train, val and test never share a scene, and the streams differ from the
single-person ones -- and cached like the single-person splits.  :func:`load_frame` renders one
frame of a split alone, identical to the same frame inside the split.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from partnas_lib.data.images import crop_antialiased
from partnas_lib.data.sample import Sample, SampleArrays
from partnas_lib.data.synth.scenes import FRAME_WIDTH, MultiPersonFrame, iter_frames, render_frame, scene_setup
from partnas_lib.data.synth.synthetic import RENDER_VERSION, load_arrays, save_arrays, split_seed

#: Bump when scenes, poses or crops change: part of the cache key (with the renderer's version).
MULTI_RENDER_VERSION = 1
#: Sequences of a test split (MuPoTS-3D has 20) and mean people per frame (for split sizes).
TEST_SEQUENCES = 20
MEAN_PEOPLE_PER_FRAME = 3.0


# --------------------------------------------------------------------------------------------
# Per-person crops
# --------------------------------------------------------------------------------------------

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


def frame_arrays(frame: MultiPersonFrame, image_size: int, **meta: Any) -> SampleArrays:
    """:func:`frame_samples` stacked into :class:`~partnas_lib.data.sample.SampleArrays`: the
    people of one frame, ready for the single-person network."""
    return SampleArrays.from_samples(frame_samples(frame, image_size, **meta))


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
    :data:`~partnas_lib.data.synth.synthetic.RENDER_VERSION`."""
    key = json.dumps(dict(version=MULTI_RENDER_VERSION, render=RENDER_VERSION, split=split,
                          sequences=int(num_sequences), frames=int(frames_per_sequence), base_seed=int(base_seed),
                          image_size=int(image_size), width=int(width), supersample=int(supersample)), sort_keys=True)
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


__all__ = ["MEAN_PEOPLE_PER_FRAME", "MULTI_RENDER_VERSION", "TEST_SEQUENCES", "crop_boxes", "frame_arrays",
           "frame_samples", "generate_multi_people", "load_frame", "load_multi_split", "multi_cache_path",
           "person_meta", "split_layout"]
