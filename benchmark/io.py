"""Atomic file writes (a reader sees the old file or the whole new one, never a torn one)
and exclusive marker files (locks and claims that exactly one process can create)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process's umask, read once (reading it means setting it, briefly)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The temporary file keeps ``path``'s suffix, so libraries that pick a format from the
    name (numpy, torch, soundfile) write the right thing, and gets the permissions the
    umask allows, as any newly created file would.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would make results and caches private
    try:
        yield Path(tmp)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def stable_hash(data: Any, length: int = 12) -> str:
    """A short content hash of JSON-able ``data``, independent of dict order."""
    import hashlib

    blob = json.dumps(data, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def create_exclusive(path: Path) -> bool:
    """Create ``path`` if nobody else has (``O_EXCL``), recording this host and pid in it;
    False if it exists. Locks and claims are such files."""
    import socket

    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as handle:
        json.dump({"host": socket.gethostname(), "pid": os.getpid()}, handle)
    return True


def holder_alive(path: Path) -> bool:
    """Whether the process that created ``path`` with :func:`create_exclusive` may still
    run: False only when it ran on this host and its pid is gone (it was killed)."""
    import socket

    try:
        owner = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return True  # being written right now, or already removed
    if owner.get("host") != socket.gethostname():
        return True  # unknowable from here
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, KeyError, TypeError, ValueError):
        return True
    return True
