"""Atomic file writes (a reader sees the old file or the whole new one, never a torn one),
exclusive marker files (locks and claims that exactly one process can create), and reads
of a user's text files whose bad bytes or lines are one line naming the file.

Every write goes through :func:`atomic_path`, so a write the filesystem refuses (full disk,
quota, read-only or forbidden directory) becomes one :class:`WriteFailed` line naming the
file, wherever it happens, and never leaves a temporary file behind.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from benchmark.errors import BenchError

#: Refusals that only a write gets, so they are the written file's even when a library
#: names another (``shutil.copyfile`` names the source of a copy that filled the disk).
_WRITE_ONLY = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}
#: Refusals that are the written file's when they name it, or name nothing.
_REFUSALS = _WRITE_ONLY | {errno.EACCES, errno.EPERM, errno.EIO, errno.ENOENT, errno.ENOTDIR}
#: What a write that the filesystem took up to the failure may further take, to find its reason.
_PROBE_BYTES = 1 << 20


class WriteFailed(BenchError):
    """The filesystem refused to write a file: the message names it, its reason, and what to do."""

    def __init__(self, path: str | os.PathLike[str], error: OSError) -> None:
        self.path = Path(path)
        self.errno = error.errno
        reason = error.strerror or str(error).replace("\n", " ")
        named = Path(os.fsdecode(error.filename)) if isinstance(error.filename, (str, bytes)) else None
        if named in self.path.parents[1:]:
            reason += f" ({named})"  # a directory on the way was refused
        blocker = next((p for p in reversed(self.path.parents) if p.exists() and not p.is_dir()), None)
        if error.errno in (errno.ENOTDIR, errno.EEXIST) and blocker is not None:
            reason, remedy = f"{blocker} is a file, not a directory", f"move {blocker} away (or use another directory)"
        elif error.errno in (errno.ENOSPC, errno.EDQUOT):
            remedy = "free space on that filesystem"
        elif error.errno == errno.EFBIG:
            remedy = "use a filesystem that takes larger files (or raise the file size limit, ulimit -f)"
        elif error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            remedy = f"make {self.path.parent} writable (or use another directory)"
        else:
            remedy = "fix that"
        super().__init__(
            f"cannot write {self.path}: {reason}; finished files are kept and nothing half-written is left: "
            f"{remedy} and run the same command again"
        )


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process's umask, read once (reading it means setting it, briefly)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_directory(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and its parents if missing; a refusal is a :class:`WriteFailed` naming it."""
    directory = Path(path)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteFailed(directory, exc) from exc
    return directory


def _refusal(exc: Exception, tmp: Path, target: Path) -> OSError | None:
    """The filesystem's refusal behind ``exc``, raised while a block wrote ``tmp``; None when
    ``exc`` is the program's own error (or a file it reads), to be raised unchanged.

    numpy's ``tofile``, torch and soundfile drop the errno (torch says ``enforce fail at
    inline_container.cc``, soundfile ``System error``); for their errors a little more is
    written to ``tmp`` while the partial write still holds its space, and the filesystem
    answers with the reason, or takes it and the error was not the disk's.
    """
    if isinstance(exc, OSError) and exc.errno is not None:
        if exc.errno not in _REFUSALS:
            return None
        named = {os.fsdecode(name) for name in (exc.filename, exc.filename2) if isinstance(name, (str, bytes))}
        if exc.errno in _WRITE_ONLY or not named or named & {str(tmp), str(target)}:
            return exc
        return None
    if not isinstance(exc, (OSError, RuntimeError)):
        return None
    try:
        with open(tmp, "ab") as handle:
            for _ in range(_PROBE_BYTES >> 16):
                handle.write(bytes(1 << 16))
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as refused:
        return refused
    return None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The temporary file keeps ``path``'s suffix, so libraries that pick a format from the
    name (numpy, torch, soundfile) write the right thing, and gets the permissions the
    umask allows, as any newly created file would. When the filesystem refuses the write
    (no space, quota, read-only, permission), in the block or while syncing, the temporary
    file is removed and :class:`WriteFailed` names ``path``; other errors pass unchanged.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    except OSError as exc:
        raise WriteFailed(target, exc) from exc
    tmp = Path(name)
    try:
        try:
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would make results and caches private
        finally:
            os.close(fd)
        try:
            yield tmp
        except Exception as exc:
            refusal = _refusal(exc, tmp, target)
            if refusal is None:
                raise
            raise WriteFailed(target, refusal) from exc
        try:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except OSError as exc:
            raise WriteFailed(target, exc) from exc
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_text(path: str | os.PathLike[str], label: str | None = None) -> str:
    """The text of a UTF-8 file, a byte-order mark dropped (spreadsheets write one); bytes that
    are not UTF-8 are one error naming the file (``label``, default its path) and where."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BenchError(f"{label or path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None


def read_json_lines(path: str | os.PathLike[str], label: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of a JSON-lines file. A line that is
    not JSON, or not a JSON object, is one error naming the file (``label``) and the line.
    Lines end at newlines only: a caption may hold a raw U+2028, which JSON allows."""
    where = label or str(path)
    for line, raw in enumerate(read_text(path, where).split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise BenchError(f"{where}, line {line}: not JSON ({exc})") from None
        if not isinstance(record, dict):
            raise BenchError(f"{where}, line {line}: expected a JSON object, found {type(record).__name__}")
        yield line, record


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
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        return False
    except OSError as exc:
        raise WriteFailed(path, exc) from exc
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump({"host": socket.gethostname(), "pid": os.getpid()}, handle)
    except OSError as exc:  # an empty record would read as a live holder for ever
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise WriteFailed(path, exc) from exc
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
