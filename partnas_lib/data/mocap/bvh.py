"""Reading a BVH file: its joint hierarchy and its per-frame channel values.

**The format.**  A BVH file has two parts.  ``HIERARCHY`` is a tree of joints; each joint has an
``OFFSET`` (its translation from its parent in the rest pose) and a ``CHANNELS`` list, e.g.
``CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation``.  ``MOTION`` then
gives ``Frames:``, ``Frame Time:`` and one line per frame holding every joint's channel values,
joints in the order they appear in the hierarchy, channels in the order each joint lists them.

**Reading the channels.**  Two details break naive readers:

* *Position channels are not only on the root.*  The Bandai Namco files put 6 channels on
  **every** joint.  A joint's position channels give its translation from its parent, replacing
  ``OFFSET`` on the axes they name (the OFFSET is the rest value, used where a joint has no
  position channel).  Adding them to the offset instead would double every bone.
* *Rotation orders differ per file (and may differ per joint).*  The rotation channels, read
  left to right, are **intrinsic** rotations: ``Zrotation Xrotation Yrotation`` means the local
  rotation ``R = Rz(z) @ Rx(x) @ Ry(y)`` (angles in degrees, right-hand rule, column vectors).

:func:`parse_bvh` returns the raw numbers (a :class:`BvhClip`); turning them into joint
positions is :mod:`~partnas_lib.data.mocap.kinematics`' job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class BvhFormatError(ValueError):
    """A malformed BVH file; the message names the file and, where known, the line."""

    def __init__(self, path: str | Path, message: str, line: int | None = None):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


_CHANNEL_NAMES = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")


@dataclass
class BvhHierarchy:
    """The joint tree of a BVH file, joints in file order (parents before children).

    ``names``: joint names; End Sites are included as ``"<parent>_end"`` with ``is_end_site``
    True (they have no channels, only an offset: the tip of the last bone).
    ``parents``: index of each joint's parent, -1 for the root.  ``offsets``: ``(J, 3)`` rest
    translations from the parent, file units.  ``channels``: each joint's channel names in file
    order.  ``channel_start``: column of each joint's first channel in a frame line.
    """

    names: tuple[str, ...]
    parents: np.ndarray
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    is_end_site: np.ndarray
    channel_start: np.ndarray

    @property
    def num_channels(self) -> int:
        return int(sum(len(c) for c in self.channels))

    def index(self, name: str) -> int:
        """Index of the joint called ``name`` (``KeyError`` naming the known joints otherwise)."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no joint {name!r}; joints are {list(self.names)}") from None


@dataclass
class BvhClip:
    """A parsed BVH file: its hierarchy and raw channel values ``(frames, channels)``."""

    path: Path
    hierarchy: BvhHierarchy
    values: np.ndarray
    frame_time: float

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])


def _parse_hierarchy(path: Path, lines: list[str]) -> tuple[BvhHierarchy, int]:
    """Parse ``HIERARCHY`` up to ``MOTION``; returns the hierarchy and the MOTION line index."""
    # Long because it is one state machine over the HIERARCHY lines: each branch handles one
    # keyword of the grammar, and all of them share the parser state (open blocks, pending joint).
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    end_site: list[bool] = []
    stack: list[int] = []  # open joints; -2 marks an open End Site block
    pending: int | None = None  # joint declared, waiting for its "{"
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i == len(lines) or lines[i].split()[0] != "HIERARCHY":
        raise BvhFormatError(path, "expected 'HIERARCHY' as the first line", i + 1 if i < len(lines) else None)
    for i in range(i + 1, len(lines)):
        tokens = lines[i].split()
        if not tokens:
            continue
        key = tokens[0]
        lineno = i + 1
        if key in ("ROOT", "JOINT") or (key == "End" and tokens[1:2] == ["Site"]):
            if key == "ROOT" and (names or stack):
                raise BvhFormatError(path, "a second ROOT: only one skeleton per file is supported", lineno)
            if key != "ROOT" and not stack:
                raise BvhFormatError(path, f"{key} outside of a joint block", lineno)
            if key != "ROOT" and stack[-1] == -2:
                raise BvhFormatError(path, "an End Site cannot have children", lineno)
            parent = stack[-1] if stack else -1
            if key == "End":
                name = f"{names[parent]}_end"
            elif len(tokens) < 2:
                raise BvhFormatError(path, f"{key} without a name", lineno)
            else:
                name = " ".join(tokens[1:])
            names.append(name)
            parents.append(parent)
            offsets.append([])
            channels.append(())
            end_site.append(key == "End")
            pending = len(names) - 1
        elif key == "{":
            if pending is None:
                raise BvhFormatError(path, "'{' without a ROOT, JOINT or End Site before it", lineno)
            stack.append(-2 if end_site[pending] else pending)
            pending = None
        elif key == "}":
            if not stack:
                raise BvhFormatError(path, "unbalanced '}'", lineno)
            stack.pop()
        elif key == "OFFSET":
            if not stack:
                raise BvhFormatError(path, "OFFSET outside of a joint block", lineno)
            try:
                values = [float(v) for v in tokens[1:]]
            except ValueError:
                raise BvhFormatError(path, f"OFFSET needs 3 numbers, got {tokens[1:]}", lineno) from None
            if len(values) != 3:
                raise BvhFormatError(path, f"OFFSET needs 3 numbers, got {len(values)}", lineno)
            joint = len(names) - 1 if stack[-1] == -2 else stack[-1]
            offsets[joint] = values
        elif key == "CHANNELS":
            if not stack or stack[-1] == -2:
                raise BvhFormatError(path, "CHANNELS outside of a joint block (End Sites have none)", lineno)
            try:
                count = int(tokens[1])
            except (IndexError, ValueError):
                raise BvhFormatError(path, "CHANNELS needs a count, e.g. 'CHANNELS 3 Zrotation ...'", lineno) from None
            names_here = tuple(tokens[2:])
            if len(names_here) != count:
                raise BvhFormatError(path, f"CHANNELS declares {count} channels but lists {len(names_here)}", lineno)
            bad = [c for c in names_here if c not in _CHANNEL_NAMES]
            if bad:
                raise BvhFormatError(path, f"unknown channel(s) {bad}; expected names from {_CHANNEL_NAMES}", lineno)
            if len(set(names_here)) != len(names_here):
                raise BvhFormatError(path, f"repeated channel in {list(names_here)}", lineno)
            channels[stack[-1]] = names_here
        elif key == "MOTION":
            if stack:
                raise BvhFormatError(path, f"MOTION before the hierarchy is closed ({len(stack)} '{{' still open)",
                                     lineno)
            if not names:
                raise BvhFormatError(path, "no ROOT joint in the hierarchy", lineno)
            missing = [n for n, o in zip(names, offsets) if len(o) != 3]
            if missing:
                raise BvhFormatError(path, f"joint(s) without OFFSET: {missing}")
            sizes = np.array([len(c) for c in channels], dtype=np.int64)
            hierarchy = BvhHierarchy(
                names=tuple(names), parents=np.array(parents, dtype=np.int64),
                offsets=np.array(offsets, dtype=np.float64), channels=tuple(channels),
                is_end_site=np.array(end_site, dtype=bool),
                channel_start=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
            )
            return hierarchy, i
        else:
            raise BvhFormatError(path, f"unexpected {key!r} in the hierarchy", lineno)
    raise BvhFormatError(path, "no 'MOTION' section after the hierarchy (file truncated?)", len(lines))


def _header_value(path: Path, lines: list[str], i: int, label: str) -> str:
    """The value after ``label`` (e.g. ``"Frames:"``) on line ``i``."""
    if i >= len(lines) or not lines[i].strip().startswith(label):
        raise BvhFormatError(path, f"expected '{label} ...' after MOTION", i + 1 if i < len(lines) else None)
    return lines[i].strip()[len(label):].strip()


def parse_bvh(path: str | Path) -> BvhClip:
    """Parse a BVH file into its hierarchy and a ``(frames, channels)`` float64 array.

    Every frame line must hold exactly as many numbers as the hierarchy declares channels; the
    ``Frames:`` count must match the frame lines.  Any violation raises :class:`BvhFormatError`
    naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise BvhFormatError(path, f"cannot read: {err.strerror or err}") from None
    lines = text.splitlines()
    hierarchy, motion = _parse_hierarchy(path, lines)
    frames_text = _header_value(path, lines, motion + 1, "Frames:")
    frame_time_text = _header_value(path, lines, motion + 2, "Frame Time:")
    try:
        frames = int(frames_text)
    except ValueError:
        raise BvhFormatError(path, f"'Frames:' needs an integer, got {frames_text!r}", motion + 2) from None
    try:
        frame_time = float(frame_time_text)
    except ValueError:
        raise BvhFormatError(path, f"'Frame Time:' needs a number, got {frame_time_text!r}", motion + 3) from None
    if frames < 1 or frame_time <= 0:
        raise BvhFormatError(path, f"need Frames >= 1 and Frame Time > 0, got {frames} and {frame_time}", motion + 2)
    first = motion + 3
    body = lines[first:]
    while body and not body[-1].strip():
        body.pop()
    C = hierarchy.num_channels
    counts = [len(line.split()) for line in body]
    for k, n in enumerate(counts):
        if n != C:
            what = "an empty line" if n == 0 else f"{n} values"
            raise BvhFormatError(path, f"frame {k} has {what}, but the hierarchy declares {C} channels",
                                 first + k + 1)
    if len(body) != frames:
        raise BvhFormatError(path, f"'Frames: {frames}' but {len(body)} frame lines follow", motion + 2)
    try:
        values = np.array(" ".join(body).split(), dtype=np.float64).reshape(frames, C)
    except ValueError:
        for k, line in enumerate(body):  # find the offending line for the message
            try:
                [float(v) for v in line.split()]
            except ValueError:
                raise BvhFormatError(path, f"frame {k} holds a value that is not a number", first + k + 1) from None
        raise
    if not np.all(np.isfinite(values)):
        k = int(np.argwhere(~np.isfinite(values))[0, 0])
        raise BvhFormatError(path, f"frame {k} holds a non-finite value", first + k + 1)
    return BvhClip(path=path, hierarchy=hierarchy, values=values, frame_time=frame_time)


__all__ = ["BvhClip", "BvhFormatError", "BvhHierarchy", "parse_bvh"]
