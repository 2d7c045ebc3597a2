"""Atomic writes and safe checkpoint loading.

    atomic_write_json(path, obj)          # tmp file in the same dir + fsync + os.replace
    save_checkpoint(path, state)          # same, for torch.save
    state = load_checkpoint(path)         # torch.load(weights_only=True): never unpickles code
    with DirectoryLock(out): ...          # one writer per run directory (an OS file lock)
    when_unlocked(out, fn)                # fn() once no other process holds out's lock

A crash or a full disk during a write leaves the previous file intact: the new content goes to a
temporary file beside it and replaces the old one in a single rename only once fully written.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

CHECKPOINT_FORMAT = "sslkit-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable, truncated, or does not match what it is loaded into."""


def _atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise OSError(e.errno, f"could not write {path} ({e.strerror or e}); "
                                   f"the previous version, if any, is left intact") from e
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    return _atomic_write(path, lambda f: f.write(json.dumps(obj, indent=2, sort_keys=False) + "\n"), mode="w")


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """torch.save ``state`` (tensors, dicts, lists, numbers, strings only) to ``path`` atomically."""
    return _atomic_write(path, lambda f: torch.save({"format": CHECKPOINT_FORMAT, **state}, f))


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint` without executing any pickled code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, foreign pickle with code objects, ...
        raise CheckpointError(f"{path} is not a readable sslkit checkpoint "
                              f"(truncated, corrupt, or contains objects other than tensors and plain data): "
                              f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{path} is not an sslkit checkpoint (format {found!r}, expected {CHECKPOINT_FORMAT!r})")
    return state


class RunLockedError(RuntimeError):
    """Another live process is writing to the same output directory."""


class DirectoryLock:
    """The exclusive claim on an output directory: ``with DirectoryLock(out): ...`` (one writer per run).

    Two runs writing checkpoints into one directory would interleave and corrupt each other's history,
    so the second is refused with :class:`RunLockedError`. The lock is an OS file lock on ``DIR/.lock``
    (``filelock``: ``flock`` on Unix): the kernel releases it when its process ends, however it ends
    (SIGKILL included), so a crashed run never leaves a stale claim behind. Two lock objects on one
    directory exclude each other even within one process.
    """

    def __init__(self, directory: str | os.PathLike):
        from filelock import FileLock

        self.directory = Path(directory)
        self._lock = FileLock(self.directory / ".lock", timeout=0)

    def __enter__(self):
        from filelock import Timeout

        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            raise RunLockedError(f"another run is writing to {self.directory}; wait for it, stop it, or choose "
                                 f"another output directory") from None
        return self

    def __exit__(self, *exc):
        self._lock.release()

    def held_elsewhere(self) -> bool:
        """Whether another process (or another lock object) holds the directory right now."""
        if not (self.directory / ".lock").exists():
            return False
        try:
            with self:
                return False
        except RunLockedError:
            return True


def when_unlocked(directory: str | os.PathLike, fn: Callable[[], Any], poll: float = 2.0, log=print) -> Any:
    """``fn()`` once no other process holds ``directory``'s :class:`DirectoryLock`.

    For cached runs that several notebooks share (``sslkit.train.pretrained``): the second one to ask
    for a run the first is still training waits, then reads the finished run, instead of failing with
    :class:`RunLockedError`. Retries if another process takes the lock between the check and ``fn``.
    """
    import time

    lock, told = DirectoryLock(directory), False
    while True:
        busy = lock.held_elsewhere()
        if not busy:
            try:
                return fn()
            except RunLockedError:
                busy = True
        if busy and not told:
            log(f"waiting for another process, which is training {directory} (the run is then read, not trained "
                f"again)")
            told = True
        time.sleep(poll)
