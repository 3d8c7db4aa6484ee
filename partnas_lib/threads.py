"""How many CPU threads torch uses, so that partnas jobs sharing a machine do not slow each other.

torch's CPU kernels run on an OpenMP pool with one thread per core by default.  Two such
processes on one 2-core machine do not share it gracefully: their threads spin-wait for each
other and each process drops to about a fifth of its speed (measured: 107 -> 23 img/s each,
where two single-thread jobs do 71 img/s each).  The rule that avoids this is simple: the torch
threads of all running jobs should add up to the cores.

``auto`` (the default) applies it to partnas jobs: every partnas process that trains registers
itself in ``$PARTNAS_CACHE/threads/`` while it works (one file named by its process id, removed
when the command ends, stale files of dead processes ignored), and uses
``cores // live partnas processes`` threads (at least
one).  It checks again every few seconds during training (:func:`rebalance`), so a job started
first steps down to one thread when a second one starts, and back up when it ends.  Jobs other
than partnas's are not counted: pin the threads yourself then.

``--threads N`` on the command line (or ``PARTNAS_THREADS=N``, or :func:`configure` in a
notebook) pins the count and turns the checks off.  Results are bit-for-bit reproducible for a
given seed *and thread count*; pin ``--threads`` to compare runs exactly on a busy machine.
"""

from __future__ import annotations

import atexit
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from partnas_lib.io import default_cache_dir

#: seconds between two looks at the registry during training
CHECK_EVERY_S = 5.0


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def registry_dir() -> Path:
    """``threads/`` in partnas's cache folder (``$PARTNAS_CACHE`` or ``~/.cache/partnas``)."""
    return default_cache_dir() / "threads"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a killed job its parent has not reaped yet is a zombie: not running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): trust kill()
    return state not in ("Z", "X")


def live_jobs(directory: Path | None = None) -> int:
    """Number of live partnas processes registered in ``directory`` (stale entries are removed)."""
    directory = directory or registry_dir()
    count = 0
    for entry in directory.glob("*.pid") if directory.is_dir() else []:
        try:
            pid = int(entry.stem)
        except ValueError:
            continue
        if pid == os.getpid() or _alive(pid):
            count += 1
        else:
            entry.unlink(missing_ok=True)
    return count


@dataclass
class ThreadPolicy:
    """``pinned`` threads, or ``None`` for the shared-machine rule of the module docstring."""

    pinned: int | None = None
    registered: Path | None = None
    last_check: float = 0.0

    def threads_now(self, jobs: int | None = None) -> int:
        """The pinned count, or the cores split among ``jobs`` (default: the live registered jobs)."""
        if self.pinned is not None:
            return self.pinned
        return max(1, available_cores() // max(1, live_jobs() if jobs is None else jobs))


_policy = ThreadPolicy()
_log = logging.getLogger("partnas")


def release() -> None:
    """Leave the registry (a finished command, or a parent that only waits for its workers), so
    that the other partnas jobs may use this process's cores."""
    if _policy.registered is not None:
        _policy.registered.unlink(missing_ok=True)
        _policy.registered = None


def _register() -> None:
    if _policy.registered is not None:
        return
    directory = registry_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        entry = directory / f"{os.getpid()}.pid"
        entry.write_text(str(os.getpid()))
    except OSError:  # read-only cache: this job is not counted by the others
        return
    _policy.registered = entry
    atexit.register(release)


def configure(threads: int | str | None = "auto") -> int:
    """Set the policy and apply it now; returns the thread count in use.

    ``threads``: a positive int pins the count; ``"auto"`` / ``None`` / ``0`` shares the cores
    with the other partnas jobs (``PARTNAS_THREADS`` in the environment takes precedence over
    ``auto``).
    """
    if threads in (None, 0, "auto", "0"):
        threads = os.environ.get("PARTNAS_THREADS", "auto")
    if threads != "auto":
        try:
            n = int(threads)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ValueError(f"threads must be a positive integer or 'auto', got {threads!r}") from None
        if n < 1:
            raise ValueError(f"threads must be a positive integer or 'auto', got {threads!r}")
        _policy.pinned = n
    else:
        _policy.pinned = None
    _register()  # pinned jobs register too: the auto ones must count them
    n = _policy.threads_now()
    torch.set_num_threads(n)
    _policy.last_check = time.monotonic()
    return n


def rebalance(log: logging.Logger | None = None) -> int:
    """Re-apply the ``auto`` rule at most every :data:`CHECK_EVERY_S` seconds (call it once per
    training step; it is free in between).  Returns the thread count in use."""
    if _policy.pinned is not None:
        return torch.get_num_threads()
    now = time.monotonic()
    if now - _policy.last_check < CHECK_EVERY_S:
        return torch.get_num_threads()
    _policy.last_check = now
    jobs = live_jobs()
    n = _policy.threads_now(jobs)
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
        (log or _log).info(f"torch threads -> {n} ({jobs} partnas job(s) on {available_cores()} cores)")
    return n


def describe() -> dict[str, object]:
    """What a run records about the machine and its threads (``metrics.json``: timings from
    different machines or thread counts do not compare)."""
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": available_cores(), "torch_threads": torch.get_num_threads(),
            "thread_policy": "pinned" if _policy.pinned is not None else "auto",
            "torch": torch.__version__, "platform": platform.platform()}
