"""Atomic file writes and checkpoints that survive being killed mid-write.

A checkpoint is written to a temporary file in the same directory, flushed and fsynced, then
renamed over the old one (``os.replace`` is atomic on POSIX), so a run killed at any moment
leaves either the previous checkpoint or the new one, never half of one.

Training checkpoints keep one generation back: ``search_last.pt`` is renamed to
``search_prev.pt`` just before the new ``search_last.pt`` takes its place.  Every checkpoint
carries a SHA-256 digest of its content (``integrity``), so a file damaged on disk (truncated,
or with flipped bytes that ``torch.load`` would read silently) is detected with an error
naming it, and :func:`load_resumable` falls back to the previous good one.  The files remain
plain ``torch.save`` dicts (``torch.load`` reads them; ``integrity`` is one more key).
"""

from __future__ import annotations

import hashlib
import io
import logging
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from partnas_lib.io import atomic_write_bytes


def rng_state() -> dict[str, Any]:
    """The global random states of python, numpy and torch (and the current CUDA device's)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def restore_training_state(ckpt: Mapping[str, Any], stateful: Mapping[str, Any], stage: str, epochs: int,
                           path: Path, log: logging.Logger) -> tuple[int, int, float]:
    """Put a training loop back where checkpoint ``ckpt`` (read from ``path``) left it.

    Every ``stateful[key]`` (model, optimisers, schedulers) loads ``ckpt[key]``, the Python,
    NumPy and torch random generators are restored (so the next batches and augmentations are
    the ones the killed run would have drawn), and the resume point is logged.  Returns the
    position ``(epochs done, steps done of the next epoch, seconds trained so far)``; the
    loop-specific rest of the checkpoint (running sums, history) stays with the caller.
    """
    for key, obj in stateful.items():
        obj.load_state_dict(ckpt[key])
    set_rng_state(ckpt["rng"])
    epoch, step, elapsed = int(ckpt["epoch"]), int(ckpt.get("step", 0)), float(ckpt["elapsed"])
    where = f"epoch {epoch + 1} step {step}" if step else f"the end of epoch {epoch}"
    log.info(f"{stage}: resumed from {path} at {where} of {epochs} epochs")
    return epoch, step, elapsed


def previous_path(path: Path) -> Path:
    """``x_last.pt`` -> ``x_prev.pt`` (other names: ``name.prev``)."""
    path = Path(path)
    if path.name.endswith("_last.pt"):
        return path.with_name(path.name[: -len("_last.pt")] + "_prev.pt")
    return path.with_name(path.name + ".prev")


def state_digest(obj: Any) -> str:
    """SHA-256 of a checkpoint's content: tensors and arrays by dtype, shape and bytes, other
    values by type and ``repr``, containers recursively (the same before saving and after
    ``torch.load``)."""
    h = hashlib.sha256()
    _digest(obj, h)
    return h.hexdigest()


def _digest(obj: Any, h: "hashlib._Hash") -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, np.ndarray):
        h.update(f"A{obj.dtype}{obj.shape}".encode())
        h.update(np.ascontiguousarray(obj).tobytes())
    elif isinstance(obj, Mapping):
        h.update(f"D{len(obj)}".encode())
        for k, v in obj.items():
            h.update(f"K{k!r}".encode())
            _digest(v, h)
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for v in obj:
            _digest(v, h)
    else:
        h.update(f"V{type(obj).__name__}:{obj!r}".encode())


def save_checkpoint(path: Path, state: dict[str, Any], keep_previous: bool = False) -> None:
    """``torch.save`` ``state`` (plus RNG states and an integrity digest) atomically; with
    ``keep_previous`` the old file becomes :func:`previous_path`."""
    payload = {**state, "rng": rng_state()}
    payload["integrity"] = {"sha256": state_digest(payload)}
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue(), previous=previous_path(path) if keep_previous else None)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint; a truncated or corrupt file gives an error naming it."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"checkpoint {path} does not exist") from None
    except Exception as e:  # torch raises several types for damaged zip archives
        raise RuntimeError(f"checkpoint {path} is corrupt or truncated ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict):
        raise RuntimeError(f"checkpoint {path} is not a partnas checkpoint (a {type(state).__name__}, not a dict)")
    integrity = state.pop("integrity", None)
    if integrity is not None and integrity.get("sha256") != state_digest(state):
        raise RuntimeError(f"checkpoint {path} is corrupt: its content does not match the SHA-256 digest "
                           "stored in it (damaged on disk)")
    return state


def load_resumable(path: Path, log: logging.Logger | None = None) -> tuple[dict[str, Any], Path] | None:
    """The checkpoint to resume from: ``path`` (``*_last.pt``), or, if that is missing, corrupt
    or truncated, the previous one (``*_prev.pt``).  None when neither exists; an error naming
    both files when neither is usable."""
    path = Path(path)
    problems = []
    for candidate in (path, previous_path(path)):
        if not candidate.exists():
            continue
        try:
            state = load_checkpoint(candidate)
        except RuntimeError as e:
            problems.append(str(e))
            if log is not None:
                log.warning(f"resume: {e}; trying the previous checkpoint")
            continue
        if problems and log is not None:
            log.warning(f"resume: using the previous good checkpoint {candidate}")
        return state, candidate
    if problems:
        raise RuntimeError("no usable checkpoint to resume from: " + "; ".join(problems)
                           + f". Delete {path.parent} (or run without --resume) to start over")
    return None
