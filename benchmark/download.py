"""Verified downloads: a published file is fetched once, checked against its checksum, and
moved into place atomically; a wrong or truncated file is never used.

Weight files (:mod:`benchmark.weights`) and dataset files (the dataset plugins) share this
module. :func:`fetch` reuses a file already at its target after verifying it; otherwise it
downloads into ``<target>.part``, resuming a partial download with an HTTP ``Range``
request (also after a connection that closed early: what came is kept for the next
try), and renames the file into place only once its checksum matches. A verified file
gets a small ``<name>.verified`` record (its size, mtime and digests), so later runs do
not hash gigabytes again.

Several processes may want one file at once (``torchrun`` ranks, parallel runs): a lock
per target (a hidden ``.<name>.lock`` beside it, held with ``flock`` through
:mod:`filelock`) lets exactly one download while the others wait, then find the verified
file; without it they wrote the same ``.part`` and one renamed it from under the others.

A file with no published checksum may name the media types its server must declare
(:attr:`RemoteFile.content_types`, e.g. Freesound's audio previews): a response of another
type (an HTML error page sent with ``200``) is refused before anything of it is written.
A failed download raises :class:`DownloadError`, which carries the server's HTTP status, so
a caller can tell a file that is gone upstream (404, 410) from a dropped connection.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from benchmark.errors import BenchError
from benchmark.io import write_json
from benchmark.progress import Progress, reporting_rank


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file. ``sha256``/``md5`` are the published checksums; where upstream
    publishes only a prefix (torch.hub file names carry the first hex digits of the
    SHA-256), ``sha256_prefix`` holds it. With none of the three, the SHA-256 of the first
    verified copy is recorded and every later use is checked against it.

    ``content_types`` (empty: any) are the media types the server's ``Content-Type`` must
    name (``audio/ogg``; parameters such as ``; charset`` are ignored), for files without a
    checksum whose type is all that tells them from an error page."""

    name: str
    url: str
    sha256: str | None = None
    md5: str | None = None
    sha256_prefix: str | None = None
    content_types: tuple[str, ...] = ()

    def expected(self) -> str:
        """The checksum in words, for messages."""
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.md5:
            return f"md5 {self.md5}"
        if self.sha256_prefix:
            return f"sha256 starting {self.sha256_prefix}"
        return "no published checksum (sha256 recorded on first use)"


class DownloadError(BenchError):
    """A download that failed (one line, as every :class:`BenchError`). ``status`` is the HTTP
    status the server answered with (404 and 410 for a file gone upstream, 200 for a
    response of the wrong content type), None when no answer came (a refused or dropped
    connection, a timeout: what came is kept, and the next try resumes it)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _check_type(file: RemoteFile, url: str, declared: str | None, status: int) -> None:
    """Refuse a response whose ``Content-Type`` is not one of ``file.content_types``."""
    if not file.content_types:
        return
    media = (declared or "").split(";")[0].strip().lower()
    if media not in {t.lower() for t in file.content_types}:
        raise DownloadError(
            f"{url} answered with Content-Type {media or '(none)'}, not {' or '.join(file.content_types)}: "
            f"not {file.name} (an error page?); nothing of it was kept", status)


def offline() -> bool:
    """True when downloads must not be tried (``BENCH_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``)."""
    return any(os.environ.get(v, "").strip().lower() in {"1", "true", "yes"} for v in ("BENCH_OFFLINE", "HF_HUB_OFFLINE"))


def digests(path: Path) -> dict[str, str]:
    """SHA-256 and MD5 of a file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
    return {"sha256": sha.hexdigest(), "md5": md5.hexdigest()}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, computed once per content stamp (size, mtime) in this process:
    cache keys ask for it once per split."""
    stat = Path(path).stat()
    return _sha256_of(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    return digests(Path(path))["sha256"]


def record_path(path: Path) -> Path:
    """Where the verdict of :func:`verify` on ``path`` is kept."""
    return path.with_name(path.name + ".verified")


def _stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def verify(file: RemoteFile, path: Path) -> None:
    """Raise unless ``path`` matches ``file``'s checksum; cache the verdict beside the file.

    A cached verdict is trusted only while the file's size and mtime are unchanged.
    """
    record_file = record_path(path)
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        record = {}
    if record.get("stamp") == _stamp(path) and record.get("expected") == file.expected():
        return
    found = digests(path)
    recorded = record.get("sha256") if not (file.sha256 or file.md5 or file.sha256_prefix) else None
    ok = (
        (file.sha256 is None or found["sha256"] == file.sha256)
        and (file.md5 is None or found["md5"] == file.md5)
        and (file.sha256_prefix is None or found["sha256"].startswith(file.sha256_prefix))
        and (recorded is None or found["sha256"] == recorded)
    )
    if not ok:
        want = file.expected() if recorded is None else f"sha256 {recorded} (recorded at first use)"
        raise BenchError(
            f"file {path} fails its checksum (expected {want}, got sha256 {found['sha256']}, "
            f"md5 {found['md5']}): it is truncated or not the published file; delete it and download "
            f"it again from {file.url}"
        )
    write_json(record_file, {"expected": file.expected(), "stamp": _stamp(path), **found})


def _download(file: RemoteFile, target: Path, url: str, quiet: bool) -> None:
    """Fetch ``url`` into ``target``, resuming ``target.part``; verify before moving into place."""
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the partial file is already complete
            response = None
        else:
            raise
    if response is not None:
        with response:
            _check_type(file, url, response.headers.get("Content-Type"), response.status)
            if have and response.status != 206:  # the server ignored the range: start over
                have = 0
            total = response.headers.get("Content-Length")
            total = int(total) + have if total is not None else None
            with open(part, "ab" if have else "wb") as out, Progress(
                total, f"downloading {file.name}", unit="B", initial=have, disable=quiet or None
            ) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
                    have += len(block)
                if total is not None and have < total:  # the server closed early: keep the part
                    raise ConnectionError(f"the connection closed after {have} of {total} bytes, kept to resume from")
    try:
        verify(file, part)
    except BenchError as exc:
        part.unlink(missing_ok=True)
        record_path(part).unlink(missing_ok=True)
        raise BenchError(f"download of {file.name} from {url} failed verification and was deleted: {exc}") from None
    os.replace(record_path(part), record_path(target))
    os.replace(part, target)


def lock_path(target: Path) -> Path:
    """The lock serialising downloads of ``target``: hidden, beside it. It is left behind
    after use (as filelock does); an idle one is taken again by the next download."""
    return target.with_name(f".{target.name}.lock")


@contextlib.contextmanager
def _exclusive(target: Path, name: str) -> Iterator[None]:
    """Hold ``target``'s download lock for the block. A process that finds it taken says once
    on stderr (unless it is a non-zero ``torchrun`` rank, which report nothing) that it waits
    for another process's download of ``name``, then waits.

    There is no timeout: the lock is an ``flock``, which the kernel releases when its holder
    exits or is killed, so a waiter waits exactly as long as a live download takes (and the
    holder's own socket timeout bounds a stalled one).
    """
    from filelock import FileLock, Timeout  # imported only when a download is due

    lock = FileLock(lock_path(target))
    try:
        lock.acquire(blocking=False)
    except Timeout:
        if reporting_rank():
            print(f"waiting for another process's download of {name} into {target.parent}", file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def mirror_url(variable: str, path: str) -> str | None:
    """``$variable/path`` when the environment variable ``variable`` names a mirror (a base
    URL), else None: the official URL is used."""
    mirror = os.environ.get(variable)
    return f"{mirror.rstrip('/')}/{path}" if mirror else None


def fetch(
    file: RemoteFile, target: Path, *, url: str | None = None, what: str = "file", hint: str = "", quiet: bool = False
) -> Path:
    """The verified file at ``target``, downloaded from ``url`` (default ``file.url``) if absent.

    ``what`` names the kind of file and ``hint`` is appended to the instructions for getting
    it by hand; both go into the one-line error raised offline or when the download fails
    (the harness starts it with the plugin that asked: ``expert 'panns': needs the …``),
    a :class:`DownloadError` when the download failed. ``quiet`` prints no progress lines
    (a caller fetching thousands of small files reports its own).

    The download runs under :func:`_exclusive`: a process that waited for another's download
    checks the target again once it holds the lock and returns the file that one verified.
    """
    if target.exists():
        verify(file, target)
        return target
    url = url or file.url
    where = f"download it from {file.url} ({file.expected()}) and put it at {target}{hint}"
    if offline():
        raise BenchError(f"needs the {what} {file.name}, which is not in {target.parent}; {where}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(target, file.name):
            if target.exists():  # another process downloaded it while this one waited
                verify(file, target)
                return target
            _download(file, target, url, quiet)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        status = exc.code if isinstance(exc, urllib.error.HTTPError) else None
        raise DownloadError(f"could not download {file.name} from {url} ({reason}); {where}", status) from None
    return target
