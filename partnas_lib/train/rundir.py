"""The run directory (docs/architecture.md, "Run directory"): the unit of output of every
command, its log, and the checks made before any work starts (free space, writable).

Only rank 0 of a ``torchrun`` run writes it; the other processes log warnings to stderr.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from partnas_lib.io import write_json
from partnas_lib.train import distributed


@dataclass
class RunDir:
    """Paths of a run directory: the unit of output of every command."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def genotype(self) -> Path:
        return self.root / "genotype.json"

    @property
    def alpha_history(self) -> Path:
        return self.root / "search" / "alpha_history.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def predictions(self) -> Path:
        return self.root / "predictions.npz"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    def prepare(self, min_free_mb: float = 0) -> None:
        """Check free space, create the directory and check it is writable, before any work starts.

        Only rank 0 writes a run directory; other processes of a ``torchrun`` run do nothing here.
        """
        if not distributed.is_main():
            return
        check_free_space(self.root, min_free_mb * 2**20, "the run directory (train.min_free_mb)")
        try:
            (self.root / "search").mkdir(parents=True, exist_ok=True)
            self.checkpoints.mkdir(parents=True, exist_ok=True)
            probe = self.root / ".write_test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise OSError(f"run directory {self.root} is not writable: {e}") from None

    def write_json(self, path: Path, data: Any) -> None:
        """Atomic JSON write (rank 0 only; a no-op on the other processes of a ``torchrun`` run)."""
        if distributed.is_main():
            write_json(path, data)


def check_free_space(path: Path, need_bytes: float, what: str) -> None:
    """Raise ``OSError`` naming ``path`` if its file system has less than ``need_bytes`` free
    (``path`` may not exist yet: its nearest existing parent is measured)."""
    if need_bytes <= 0:
        return
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return  # cannot tell; the writability probe and the atomic writes still catch a full disk
    if free < need_bytes:
        raise OSError(f"not enough free disk space for {what}: {path} has {free / 2**20:.0f} MB free on its file "
                      f"system, {need_bytes / 2**20:.0f} MB needed; free some space or choose another --out")


def checkpoint_bytes(*modules_or_tensors: Any) -> int:
    """Rough size of a training checkpoint: the parameters and buffers, three times (weights and
    the two Adam moments)."""
    n = 0
    for m in modules_or_tensors:
        tensors = list(m.parameters()) + list(m.buffers()) if isinstance(m, nn.Module) else [m]
        n += sum(t.numel() * t.element_size() for t in tensors)
    return 3 * n


#: Level of the messages a run's log also prints to stderr (every message goes to ``log.txt``).
_console_level = logging.INFO


def set_console_level(level: int) -> None:
    """Print only messages of ``level`` and above to stderr, for every run logger now and later
    (notebooks use ``logging.WARNING``: the full log stays in the run's ``log.txt``)."""
    global _console_level
    _console_level = level
    for name, logger in logging.root.manager.loggerDict.items():
        if name.startswith("partnas.") and isinstance(logger, logging.Logger):
            for h in logger.handlers:
                if type(h) is logging.StreamHandler:
                    h.setLevel(level)


def get_logger(run: RunDir) -> logging.Logger:
    """A logger that writes to ``log.txt`` and to stderr; on the other processes of a
    ``torchrun`` run, warnings to stderr only (rank 0 keeps the log)."""
    d = distributed.info()
    if not d.is_main:
        logger = logging.getLogger(f"partnas.rank{d.rank}.{run.root.resolve()}")
        if not logger.handlers:
            logger.setLevel(logging.WARNING)
            logger.propagate = False
            sh = logging.StreamHandler(sys.stderr)
            sh.setFormatter(logging.Formatter(f"%(asctime)s [rank {d.rank}] %(message)s", "%H:%M:%S"))
            logger.addHandler(sh)
        return logger
    logger = logging.getLogger(f"partnas.{run.root.resolve()}")
    if not logger.handlers:
        logger.setLevel(logging.INFO)
        logger.propagate = False
        fmt = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
        fh = logging.FileHandler(run.log)
        fh.setFormatter(fmt)
        sh = logging.StreamHandler(sys.stderr)
        sh.setFormatter(fmt)
        sh.setLevel(_console_level)
        logger.addHandler(fh)
        logger.addHandler(sh)
    return logger


class Timer:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start
