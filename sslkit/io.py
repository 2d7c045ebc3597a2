"""Atomic writes and safe checkpoint loading.

    atomic_write_json(path, obj)          # tmp file in the same dir + fsync + os.replace
    save_checkpoint(path, state)          # same, for torch.save
    state = load_checkpoint(path)         # torch.load(weights_only=True): never unpickles code
    with DirectoryLock(out): ...          # one writer per run directory
    when_unlocked(out, fn)                # fn() once no other live process holds out's lock

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
    """Exclusive claim on an output directory: ``DIR/.lock`` created with O_EXCL, holding the PID.

    Two runs writing checkpoints into one directory would interleave and corrupt each other's
    history, so the second is refused. A lock left by a process that no longer exists (killed
    with SIGKILL) is taken over.
    """

    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory) / ".lock"

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pid = self.holder()
                if pid is not None:
                    raise RunLockedError(f"another run (pid {pid}) is writing to {self.path.parent}; wait for it, "
                                         f"stop it, or choose another output directory") from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise RunLockedError(f"could not lock {self.path.parent}")

    def __exit__(self, *exc):
        if self._owner() == os.getpid():
            self.path.unlink(missing_ok=True)

    def holder(self) -> int | None:
        """The PID of another live process that holds the lock, else None."""
        pid = self._owner()
        return pid if pid is not None and pid != os.getpid() and _alive(pid) else None

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None


def when_unlocked(directory: str | os.PathLike, fn: Callable[[], Any], poll: float = 2.0, log=print) -> Any:
    """``fn()`` once no other live process holds ``directory``'s :class:`DirectoryLock`.

    For cached runs that several notebooks share (``sslkit.train.pretrained``): the second one to ask
    for a run the first is still training waits, then reads the finished run, instead of failing with
    :class:`RunLockedError`. Retries if another process takes the lock between the check and ``fn``.
    """
    import time

    lock, told = DirectoryLock(directory), False
    while True:
        pid = lock.holder()
        if pid is None:
            try:
                return fn()
            except RunLockedError:
                pid = lock.holder()
        if pid is not None and not told:
            log(f"waiting for process {pid}, which is training {directory} (the run is then read, not trained again)")
            told = True
        time.sleep(poll)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
