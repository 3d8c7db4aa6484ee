"""A folder of BVH clips as a library: retargeted clips, cached, split into train / val / test.

:func:`load_mocap_folder` finds every ``.bvh`` file under a folder, reads and retargets each one
(:func:`load_clip`: :mod:`~partnas_lib.data.mocap.bvh`, :mod:`~partnas_lib.data.mocap.kinematics`,
:mod:`~partnas_lib.data.mocap.retarget`) and labels it.  Retargeting a long clip takes a while,
so clips are cached in memory and on disk (:func:`load_clips`), keyed by the file's size and
mtime: editing a clip invalidates its entry.

**Splits** (:func:`assign_splits`) keep every take of one motion in one split, so test poses come
from motions never seen in training.  The split unit of a clip is its group
(:func:`clip_group`: the actor named by a JSON sidecar, else the file name without its take
number).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from partnas_lib.data.mocap.bvh import BvhFormatError, parse_bvh
from partnas_lib.data.mocap.kinematics import to_world
from partnas_lib.data.mocap.retarget import SkeletonMap, get_skeleton, retarget_to_h36m
from partnas_lib.io import atomic_write_bytes, default_cache_dir

#: Bump when reading, retargeting or the cached arrays change: part of every cache key.
BVH_VERSION = 1


@dataclass
class MocapClip:
    """One retargeted clip: Human3.6M-17 joints for every frame, plus where it came from.

    ``joints``: ``(F, 17, 3)`` float32 mm, partnas world (Z up, feet on the floor at Z = 0; the
    horizontal position is wherever the actor was on the capture stage).  ``group``: the unit of
    splitting (:func:`clip_group`).  ``action`` / ``style``: labels when the dataset ships them
    (Bandai Namco: ``walk`` / ``happy``), else derived from the file name.  ``bones``: a short
    signature of the limb lengths: clips with the same signature were captured on the same
    calibrated skeleton (in practice, the same actor).
    """

    name: str
    path: str
    group: str
    action: str
    style: str
    joints: np.ndarray
    frame_time: float
    skeleton: str
    bones: str

    @property
    def num_frames(self) -> int:
        return int(self.joints.shape[0])


_TAKE = re.compile(r"[_\-. ]?\d+$")


def clip_group(path: str | Path) -> str:
    """The split unit of a clip: its JSON sidecar's ``actor`` (or ``subject``) when there is one,
    else the file stem without a trailing take number (``walk_happy_002`` -> ``walk_happy``), so
    that two takes of one motion never straddle train and test.  (CMU files are named
    ``subject_trial``, e.g. ``07_03``: their group is the subject, so whole actors are held out.)"""
    path = Path(path)
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        try:
            labels = json.loads(sidecar.read_text())
        except (OSError, json.JSONDecodeError):
            labels = {}
        for key in ("actor", "subject"):
            if isinstance(labels, dict) and labels.get(key) not in (None, ""):
                return f"{key}:{labels[key]}"
    return _TAKE.sub("", path.stem) or path.stem


def _labels(path: Path) -> tuple[str, str]:
    """``(action, style)`` of a clip: Bandai Namco's JSON sidecar (``content``/``style`` indices)
    resolved with ``cfg/content_label.txt`` / ``cfg/style_label.txt``, else ``(stem, "")``."""
    sidecar = path.with_suffix(".json")
    cfg = path.parent.parent / "cfg"
    stem = _TAKE.sub("", path.stem) or path.stem
    try:
        labels = json.loads(sidecar.read_text())
        content = (cfg / "content_label.txt").read_text().split()
        styles = (cfg / "style_label.txt").read_text().split()
        strip = re.compile(r"^dataset-\d+_")
        return strip.sub("", content[int(labels["content"])]), strip.sub("", styles[int(labels["style"])])
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return stem, ""


def _bones_signature(joints: np.ndarray) -> str:
    """Short hash of the clip's limb lengths rounded to 1 mm: clips captured on the same
    calibrated skeleton (in practice, the same actor) share it.  (Rest OFFSETs would not do: some
    exporters store the stage position of the first frame there.)"""
    limbs = [(1, 2), (2, 3), (4, 5), (5, 6), (11, 12), (12, 13), (14, 15), (15, 16)]  # thighs, shins, arms
    lengths = [round(float(np.linalg.norm(joints[:, b] - joints[:, a], axis=-1).mean())) for a, b in limbs]
    return hashlib.sha256(json.dumps(lengths).encode()).hexdigest()[:8]


def load_clip(path: str | Path, skeleton: str | SkeletonMap | None = None) -> MocapClip:
    """Read, retarget and label one BVH file (no caching; see :func:`load_clips`)."""
    path = Path(path)
    clip = parse_bvh(path)
    spec = get_skeleton(skeleton, clip.hierarchy.names)
    joints = retarget_to_h36m(to_world(clip, spec.scale, spec.up), spec)
    action, style = _labels(path)
    return MocapClip(name=path.stem, path=str(path), group=clip_group(path), action=action, style=style,
                     joints=joints.astype(np.float32), frame_time=clip.frame_time, skeleton=spec.name,
                     bones=_bones_signature(joints))


def find_bvh_files(root: str | Path) -> list[Path]:
    """The ``.bvh`` files under ``root`` (recursively; case-insensitive suffix), sorted."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root}: BVH folder not found")
    if root.is_file():
        return [root]
    return sorted(p for p in root.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())


def _stamp(path: Path) -> list[int]:
    """Size and mtime of a clip and of its JSON sidecar (labels decide the split), if any."""
    st = path.stat()
    sidecar = path.with_suffix(".json")
    extra = [sidecar.stat().st_size, sidecar.stat().st_mtime_ns] if sidecar.is_file() else []
    return [st.st_size, st.st_mtime_ns, *extra]


def folder_fingerprint(root: str | Path, skeleton: str | None = None) -> str:
    """Hash of every BVH file's relative path, size and mtime, its label sidecar's, and
    :data:`BVH_VERSION`: it changes whenever a clip is added, removed or edited, so caches keyed
    on it never go stale."""
    root = Path(root)
    entries = []
    for p in find_bvh_files(root):
        entries.append([str(p.relative_to(root)) if root.is_dir() else p.name, *_stamp(p)])
    key = json.dumps({"version": BVH_VERSION, "skeleton": skeleton, "files": entries})
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def default_mocap_cache() -> Path:
    """``$PARTNAS_CACHE/bvh`` (or ``~/.cache/partnas/bvh``): retargeted clips, outside the repo."""
    return default_cache_dir() / "bvh"


def _clip_cache_file(cache_dir: Path, path: Path, skeleton: str | None) -> Path:
    key = json.dumps({"version": BVH_VERSION, "path": str(path.resolve()), "stamp": _stamp(path),
                      "skeleton": skeleton})
    return cache_dir / f"clip-{hashlib.sha256(key.encode()).hexdigest()[:24]}.npz"


def _save_clip(clip: MocapClip, file: Path) -> None:
    """Write a retargeted clip atomically (temp file + rename); failures only skip the cache."""
    meta = {k: getattr(clip, k) for k in ("name", "path", "group", "action", "style", "frame_time",
                                          "skeleton", "bones")}
    buffer = io.BytesIO()
    np.savez(buffer, joints=clip.joints, meta=np.array(json.dumps(meta)))
    try:
        atomic_write_bytes(file, buffer.getvalue())
    except OSError:
        return


def _load_cached_clip(file: Path) -> MocapClip | None:
    try:
        with np.load(file, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return MocapClip(joints=z["joints"], **meta)
    except Exception:  # missing, truncated or foreign: rebuild it
        return None


_CLIP_MEMO: dict[tuple, MocapClip] = {}
_MEMO_LOCK = threading.Lock()


def load_clips(paths: Sequence[str | Path], skeleton: str | None = None, cache_dir: str | Path | None = None,
               strict: bool = True) -> tuple[list[MocapClip], list[tuple[str, str]]]:
    """Load many clips, each cached in memory (per process) and on disk under ``cache_dir``
    (default :func:`default_mocap_cache`; ``cache_dir=""`` disables the disk cache), keyed by
    file path, size and mtime (the clip's and its label sidecar's).

    Returns ``(clips, failures)`` where ``failures`` lists ``(file, error)``; with ``strict`` the
    first failure raises instead.
    """
    disk = None if cache_dir == "" else Path(cache_dir) if cache_dir is not None else default_mocap_cache()
    clips: list[MocapClip] = []
    failures: list[tuple[str, str]] = []
    for p in map(Path, paths):
        try:
            memo_key = (str(p.resolve()), *_stamp(p), skeleton, BVH_VERSION)
            with _MEMO_LOCK:
                clip = _CLIP_MEMO.get(memo_key)
            if clip is None:
                file = _clip_cache_file(disk, p, skeleton) if disk is not None else None
                clip = _load_cached_clip(file) if file is not None and file.exists() else None
                if clip is None:
                    clip = load_clip(p, skeleton)
                    if file is not None:
                        _save_clip(clip, file)
                with _MEMO_LOCK:
                    _CLIP_MEMO[memo_key] = clip
            clips.append(clip)
        except (ValueError, KeyError, OSError) as err:
            if strict:
                if isinstance(err, BvhFormatError):
                    raise
                raise ValueError(f"{p}: {err}") from err
            failures.append((str(p), str(err)))
    return clips, failures


SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Share of clip groups held out for validation and for test (at least one group each).
HOLDOUT_FRACTION = 0.1


def assign_splits(groups: Sequence[str]) -> dict[str, str]:
    """Map each clip group to ``"train"``, ``"val"`` or ``"test"``: about 80 / 10 / 10 %.

    The rule: order the distinct groups by the SHA-256 of their name (a fixed pseudo-random
    shuffle that does not depend on the machine, the file order or a seed), give the first
    ``max(1, round(10 %))`` to test, the next as many to val, the rest to train.  Every take of
    a group lands in the same split, so test poses come from motions never seen in training.
    Needs at least 3 groups.
    """
    distinct = sorted(set(groups), key=lambda g: hashlib.sha256(g.encode()).hexdigest())
    n = len(distinct)
    if n < 3:
        raise ValueError(f"need clips of at least 3 different motions to split into train/val/test, got {n} "
                         f"({distinct}); takes of one motion (name_001, name_002) count once")
    k = max(1, int(round(HOLDOUT_FRACTION * n)))
    return {g: ("test" if i < k else "val" if i < 2 * k else "train") for i, g in enumerate(distinct)}


@dataclass
class MocapLibrary:
    """Every clip of a BVH folder, retargeted, with the split of each clip."""

    root: str
    clips: list[MocapClip]
    failures: list[tuple[str, str]]
    split_of_group: dict[str, str]
    fingerprint: str

    def split_of(self, clip: MocapClip) -> str:
        return self.split_of_group[clip.group]

    def clips_in(self, split: str) -> list[MocapClip]:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return [c for c in self.clips if self.split_of(c) == split]


_LIBRARIES: dict[tuple, MocapLibrary] = {}


def load_mocap_folder(root: str | Path, skeleton: str | None = None, cache_dir: str | Path | None = None,
                      strict: bool = True) -> MocapLibrary:
    """All BVH clips under ``root``, retargeted and split (memoised per process on the folder's
    :func:`folder_fingerprint`, clips cached on disk by :func:`load_clips`)."""
    root = Path(root)
    files = find_bvh_files(root)
    if not files:
        raise FileNotFoundError(f"{root}: no .bvh files found")
    fp = folder_fingerprint(root, skeleton)
    key = (str(root.resolve()), fp, strict, str(cache_dir))
    if key in _LIBRARIES:
        return _LIBRARIES[key]
    clips, failures = load_clips(files, skeleton=skeleton, cache_dir=cache_dir, strict=strict)
    groups = [c.group for c in clips]
    # Strict loads need a valid split (assign_splits raises with the reason); a lenient load
    # (data check) reports a folder with fewer than 3 motions instead.
    split_of_group = assign_splits(groups) if strict or len(set(groups)) >= 3 else {}
    lib = MocapLibrary(root=str(root), clips=clips, failures=failures, split_of_group=split_of_group, fingerprint=fp)
    _LIBRARIES[key] = lib
    return lib


__all__ = ["BVH_VERSION", "HOLDOUT_FRACTION", "SPLITS", "MocapClip", "MocapLibrary", "assign_splits", "clip_group",
           "default_mocap_cache", "find_bvh_files", "folder_fingerprint", "load_clip", "load_clips",
           "load_mocap_folder"]
