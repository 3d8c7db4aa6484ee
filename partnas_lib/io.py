"""The ground floor: errors, JSON, atomic writes and field checks every layer shares.

Bad input must never crash obscurely or lose work (docs/architecture.md, "Errors"):

* every reader names the file and the field that is wrong, and what was expected
  (:class:`DataFormatError`, :func:`read_json`, :func:`require`, :func:`as_array`);
* every writer is atomic (:func:`atomic_write_bytes`): a temporary file in the same folder is
  flushed, fsynced and renamed over the target (``os.replace`` is atomic on POSIX), so a run
  killed at any moment leaves the old file or the new one, never half of one.

This module imports nothing of partnas but :mod:`partnas_lib.skeleton` (for the joint count).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from partnas_lib.skeleton import NUM_JOINTS


class DataFormatError(ValueError):
    """A file exists but does not hold what its format promises.

    Messages start with the file and name the field, e.g.
    ``.../Human36M_subject1_joint_3d.json: field ['2']['1']['0'] has 16 joints, expected 17``.
    """


class PickleConsentError(ValueError):
    """A file needs unpickling and the caller did not pass ``allow_pickle=True``."""


def default_cache_dir() -> Path:
    """``$PARTNAS_CACHE`` or ``~/.cache/partnas`` (an empty variable means the default): rendered
    synthetic splits, parsed mocap and the thread registry live there; delete it freely."""
    return Path(os.environ.get("PARTNAS_CACHE") or Path.home() / ".cache" / "partnas")


# --------------------------------------------------------------------------------------------
# reading


def read_json(path: str | Path, what: str = "file", missing_hint: str = "") -> Any:
    """Parse the JSON file ``path``; a missing or malformed file raises an error naming it as
    ``what`` ("config file", "genotype file", "annotation file", ...)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found{missing_hint}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise DataFormatError(
            f"{path}: {what} is malformed JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    except UnicodeDecodeError as err:
        raise DataFormatError(f"{path}: {what} is not UTF-8 text ({err})") from None


def require(mapping: Any, key: str, path: Path | str, where: str) -> Any:
    """``mapping[key]``, or a :class:`DataFormatError` naming the file and the missing field."""
    if not isinstance(mapping, dict):
        raise DataFormatError(f"{path}: {where} must be a JSON object, got {type(mapping).__name__}")
    if key not in mapping:
        raise DataFormatError(f"{path}: {where} has no field {key!r}")
    return mapping[key]


def as_array(value: Any, shape: tuple[int, ...], path: Path | str, field: str,
             dtype: type = np.float64) -> np.ndarray:
    """``value`` as an array of ``shape``; a wrong joint count or shape names the field.

    A leading dimension of 17 in ``shape`` is reported as a joint count ("has 16 joints,
    expected 17"), the most common mistake (a 16-joint MPII array, a 32-joint raw array).
    """
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise DataFormatError(f"{path}: field {field} is not a numeric array") from None
    if arr.shape != shape:
        if len(shape) >= 1 and shape[0] == NUM_JOINTS and arr.ndim == len(shape) and arr.shape[1:] == shape[1:]:
            raise DataFormatError(
                f"{path}: field {field} has {arr.shape[0]} joints, expected {NUM_JOINTS} "
                "(Human3.6M-17 order, docs/formats.md)"
            )
        raise DataFormatError(f"{path}: field {field} has shape {arr.shape}, expected {shape}")
    if dtype is np.float64 and not np.all(np.isfinite(arr)):
        raise DataFormatError(f"{path}: field {field} contains NaN or infinite values")
    return arr


# --------------------------------------------------------------------------------------------
# writing


def atomic_write_bytes(path: str | Path, data: bytes, previous: Path | None = None) -> None:
    """Write ``data`` to ``path`` atomically; with ``previous``, the old ``path`` (if any) is
    renamed to ``previous`` just before the new file takes its place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if previous is not None and path.exists():
            os.replace(path, previous)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the renames durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(value: Any) -> Any:
    """numpy scalars and arrays, tuples and Paths -> plain JSON types, recursively; NaN and
    infinities -> ``None`` (strict JSON, which every reader accepts)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | Path, value: Any, indent: int | None = 2) -> None:
    """``value`` (through :func:`to_jsonable`) written atomically as strict JSON."""
    atomic_write_text(path, json.dumps(to_jsonable(value), indent=indent, allow_nan=False) + "\n")
