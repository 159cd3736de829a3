"""Verified downloads: a published file is fetched once, checked against its checksum, and
moved into place atomically; a wrong, truncated or spliced file is never used.

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

Limits, so that no server can hold a run or fill a disk:

- **Deadline**: one file's download may take ``BENCH_DOWNLOAD_DEADLINE_SECONDS`` in all
  (default 4 hours: a 4 GB archive at 300 kB/s), redirects included.
- **Stall**: it is given up when less than 64 KiB came in ``BENCH_DOWNLOAD_STALL_SECONDS``
  (default 60), counted from the request or the last 64 KiB: a server trickling a byte every
  few seconds answers every read, yet makes no progress. Both are also arguments of
  :func:`fetch`; a value that is not a number of seconds above 0 is a one-line error. What
  came before either limit is kept, and the next try resumes it.
- **Size**: a file's length may not exceed :attr:`RemoteFile.max_bytes` (default 16 GiB,
  four times the largest file a built-in plugin fetches). A ``Content-Length`` above it,
  or above the free space on the disk, is refused before a byte is written, and a body
  without one is cut off at the cap.
- **Redirects**: at most 5, to ``http`` and ``https`` URLs only, never from https down to
  plain http (a file without a checksum could be altered on the way); a loop is named.

Nothing broken is marked verified: without a published checksum, a file is accepted only
at the length its server announced (``Content-Length``, or the total of ``Content-Range``
on a resume) and never from a response that announces none (unless chunked, whose framing
marks the end); a resume is kept only when the ``206`` starts exactly where the partial file
ends (a ``200`` starts it over, and an answer from another offset, or a resumed file that
fails verification, discards the partial file and downloads once more from byte 0).
``fetch(check=...)`` names a test of the content (an audio file decodes) run before the
``.verified`` record is written; a file in place whose record does not say it passed is
checked on its next use, and one that fails is deleted and downloaded again, so a file
broken by a download is never blamed on its source. Refusals delete the ``.part`` (a
resume cannot help); dropped connections, timeouts and HTTP errors keep it. Every failure
is one line naming the URL and where to put the file by hand.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import json
import math
import os
import re
import shutil
import socket
import string
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from benchmark.errors import BenchError
from benchmark.io import write_json
from benchmark.progress import Progress, reporting_rank

#: Environment variables of the limits (module docstring) and their defaults, in seconds.
DEADLINE_VARIABLE, STALL_VARIABLE = "BENCH_DOWNLOAD_DEADLINE_SECONDS", "BENCH_DOWNLOAD_STALL_SECONDS"
DEADLINE_SECONDS, STALL_SECONDS = 4 * 3600.0, 60.0
#: Bytes that count as progress: a stall is less than this in ``stall`` seconds.
PROGRESS_BYTES = 64 * 1024
#: The default size cap of a file (:attr:`RemoteFile.max_bytes`).
MAX_BYTES = 16 << 30
#: Redirects followed from one URL.
MAX_REDIRECTS = 5
#: Bytes read and written at a time.
BLOCK = 1 << 20
_REDIRECT_CODES = (301, 302, 303, 307, 308)
_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_UNSATISFIED = re.compile(r"bytes \*/(\d+)")


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file. ``sha256``/``md5`` are the published checksums; where upstream
    publishes only a prefix (torch.hub file names carry the first hex digits of the
    SHA-256), ``sha256_prefix`` holds it. With none of the three, the SHA-256 of the first
    verified copy is recorded and every later use is checked against it.

    ``content_types`` (empty: any) are the media types the server's ``Content-Type`` must
    name (``audio/ogg``; parameters such as ``; charset`` are ignored), for files without a
    checksum whose type is all that tells them from an error page. ``max_bytes`` caps the
    file's length (a plugin fetching small files lowers it, one fetching a larger file
    raises it)."""

    name: str
    url: str
    sha256: str | None = None
    md5: str | None = None
    sha256_prefix: str | None = None
    content_types: tuple[str, ...] = ()
    max_bytes: int = MAX_BYTES

    def checksummed(self) -> bool:
        """Whether upstream publishes a checksum (or a prefix of one) of the file."""
        return bool(self.sha256 or self.md5 or self.sha256_prefix)

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


class ContentError(DownloadError):
    """A file that came whole, at its announced length, and fails the caller's check
    (:func:`fetch`'s ``check``): the source's file is broken (an audio preview that does not
    decode). It was deleted; ``status`` is 200."""


class _Refused(DownloadError):
    """A response that cannot be the file (or a redirect not followed): its ``.part`` is
    deleted, and :func:`fetch` adds where to get the file by hand."""


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


class Limits(NamedTuple):
    """How long one file's download may take: ``deadline`` seconds in all, and ``stall``
    seconds without :data:`PROGRESS_BYTES` more."""

    deadline: float
    stall: float


def limits(deadline: float | None = None, stall: float | None = None) -> Limits:
    """The limits of a download: the arguments, else the environment variables, else the
    defaults. A value that is not a number of seconds above 0 is a one-line error naming it,
    raised before any request."""
    return Limits(_seconds("deadline", deadline, DEADLINE_VARIABLE, DEADLINE_SECONDS),
                  _seconds("stall", stall, STALL_VARIABLE, STALL_SECONDS))


def _seconds(name: str, given: object, variable: str, default: float) -> float:
    if given is None:
        given = os.environ.get(variable, "").strip()
        if not given:
            return default
        where = f"{variable}={given!r}"
    else:
        where = f"fetch's {name}={given!r}"
    try:
        value = float(given)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = math.nan
    if not 0 < value < math.inf:
        raise BenchError(f"{where} is not a number of seconds above 0: set it to one, or leave it unset for the default "
                         f"({default:g} s)")
    return value


def digests(path: Path) -> dict[str, str]:
    """SHA-256 and MD5 of a file, read once."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
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


def _discard(path: Path) -> None:
    """Delete ``path`` and its verification record, if there."""
    path.unlink(missing_ok=True)
    record_path(path).unlink(missing_ok=True)


def _read_record(path: Path) -> dict:
    """The verification record at ``path``; empty when absent, unreadable or not an object."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def verify(file: RemoteFile, path: Path, check: Callable[[Path], None] | None = None) -> None:
    """Raise unless ``path`` matches ``file``'s checksum and passes ``check`` (which raises a
    :class:`BenchError` for unusable content; its failure is a :class:`ContentError`); cache
    the verdict beside the file.

    A cached verdict is trusted only while the file's size and mtime are unchanged, and for
    ``check`` only when it records that the check passed.
    """
    record_file = record_path(path)
    record = _read_record(record_file)
    stamp = _stamp(path)
    if record.get("stamp") != stamp or record.get("expected") != file.expected():
        found = digests(path)
        recorded = record.get("sha256") if not file.checksummed() else None
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
        record = {"expected": file.expected(), "stamp": stamp, **found}
    elif check is None or record.get("checked"):
        return
    if check is not None:
        try:
            check(path)
        except BenchError as exc:
            raise ContentError(f"file {path} fails its check ({exc})", 200) from None
        record["checked"] = True
    write_json(record_file, record)


class _Clock:
    """Gives up on one download once its deadline passes or no :data:`PROGRESS_BYTES` more
    came for ``stall`` seconds: a watcher thread shuts its connections down, which wakes a
    read blocked in the kernel (or in a header arriving byte by byte); ``reason`` then says
    why (None until it gives up). The stall is counted from the clock's start, then from
    each response's headers (:meth:`answered`, which :meth:`moved` always follows)."""

    def __init__(self, deadline_at: float, limits: Limits) -> None:
        self.deadline_at, self.limits = deadline_at, limits
        self.progress_at = time.monotonic()
        self.reason = None
        self.connections = []
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch)  # joined on leaving the block

    def __enter__(self) -> _Clock:
        self._watcher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._watcher.join()

    def answered(self, have: int) -> None:
        """A response's headers came: progress, counted from the ``have`` bytes held."""
        self.mark, self.progress_at = have, time.monotonic()

    def moved(self, have: int) -> None:
        """``have`` bytes are held: progress once :data:`PROGRESS_BYTES` more than at the last."""
        if have - self.mark >= PROGRESS_BYTES:
            self.answered(have)

    def _watch(self) -> None:
        while not self._done.wait(max(min(self.deadline_at, self.progress_at + self.limits.stall) - time.monotonic(), 0)):
            now = time.monotonic()
            if now >= self.deadline_at:
                self.reason = f"not done after {self.limits.deadline:g} s, the deadline ({DEADLINE_VARIABLE})"
            elif now >= self.progress_at + self.limits.stall:
                self.reason = self._stalled()
            else:
                continue
            # A response being read has left its connection (urllib detaches it): its reads
            # time out after ``stall`` seconds, and the reader looks at ``reason`` after each.
            for connection in list(self.connections):
                if connection.sock is not None:
                    with contextlib.suppress(OSError):  # closed meanwhile
                        socket.socket.shutdown(connection.sock, socket.SHUT_RDWR)
            return

    def _stalled(self) -> str:
        return (f"less than {PROGRESS_BYTES // 1024} KiB came in {self.limits.stall:g} s, the stall timeout "
                f"({STALL_VARIABLE})")

    def gave_up(self, exc: BaseException | None = None) -> TimeoutError | None:
        """The error to raise when the clock gave up, or ``exc`` is a socket's timeout (no
        byte for ``stall`` seconds): what came is kept. None otherwise."""
        if self.reason is None and TimeoutError in (type(exc), type(getattr(exc, "reason", None))):
            self.reason = self._stalled()
        return TimeoutError(f"gave up: {self.reason}; what came is kept for the next try") if self.reason else None


class _Watched:
    """A connection its :class:`_Clock` can shut down."""

    def __init__(self, host: str, *, clock: _Clock, **kwargs: object) -> None:
        super().__init__(host, **kwargs)  # type: ignore[call-arg]
        clock.connections.append(self)  # type: ignore[arg-type]


class _HTTPConnection(_Watched, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Watched, http.client.HTTPSConnection):
    pass


class _Handler(urllib.request.HTTPHandler, urllib.request.HTTPSHandler):
    """Opens http and https connections that ``clock`` can shut down (in place of urllib's two)."""

    def __init__(self, clock: _Clock) -> None:
        super().__init__()
        self.clock = clock

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPConnection, clock=self.clock), req)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_HTTPSConnection, clock=self.clock), req)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hands every redirect back as an ``HTTPError``, for :func:`_open` to follow by its rules."""

    def http_error_302(self, req, fp, code, msg, headers):  # type: ignore[no-untyped-def]
        return None

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _open(url: str, have: int, clock: _Clock) -> http.client.HTTPResponse:
    """The response to ``GET url`` (``Range: bytes=have-`` when ``have``), following up to
    :data:`MAX_REDIRECTS` redirects to http(s) URLs, none from https to http, none in a loop.
    Other HTTP errors are raised as ``HTTPError``."""
    opener = urllib.request.build_opener(_NoRedirects, _Handler(clock))
    chain = [url]
    while True:
        request = urllib.request.Request(chain[-1], headers={"Range": f"bytes={have}-"} if have else {})
        try:
            response = opener.open(request, timeout=clock.limits.stall)
        except urllib.error.HTTPError as exc:
            if exc.code not in _REDIRECT_CODES:
                raise
            location = exc.headers.get("Location")
            exc.close()
            if not location:
                raise _Refused(f"{chain[-1]} answered {exc.code} without a Location to follow: nothing was downloaded",
                               exc.code) from None
            # As urllib does: http.client decoded the header as ISO-8859-1; quote what a URL cannot hold.
            new = urllib.parse.urljoin(chain[-1], urllib.parse.quote(location.strip(), encoding="iso-8859-1",
                                                                     safe=string.punctuation))
            scheme = urllib.parse.urlsplit(new).scheme.lower()
            if scheme not in ("http", "https"):
                raise _Refused(f"{url} redirected to {new}: only http and https URLs are followed, nothing was "
                               "downloaded", exc.code) from None
            if scheme == "http" and urllib.parse.urlsplit(chain[-1]).scheme.lower() == "https":
                raise _Refused(f"{url} redirected from https to plain http ({new}): refused, as the file could be "
                               "altered on the way", exc.code) from None
            if new in chain:
                loop = " -> ".join(chain[chain.index(new):] + [new])
                raise _Refused(f"{url} redirects in a loop ({loop}): nothing was downloaded", exc.code) from None
            chain.append(new)
            if len(chain) > MAX_REDIRECTS + 1:
                raise _Refused(f"{url} redirected more than {MAX_REDIRECTS} times (to {new}): nothing was downloaded",
                               exc.code) from None
            continue
        gave_up = clock.gave_up()
        if gave_up is not None:  # the clock cut its headers short
            response.close()
            raise gave_up
        clock.answered(have)
        return response


def _extent(file: RemoteFile, url: str, response: http.client.HTTPResponse, have: int) -> tuple[int | None, int | None] | None:
    """Where the body of ``response`` ends in the file and the file's whole length (None when
    not announced). None when a ``206`` is not the rest of the ``have`` bytes held (the
    partial file must be discarded); a response that cannot be the file is refused."""
    headers, status = response.headers, response.status
    encoding = (headers.get("Content-Encoding") or "identity").strip().lower()
    framing = (headers.get("Transfer-Encoding") or "").strip().lower()
    if encoding != "identity" or framing not in ("", "chunked"):
        raise _Refused(f"{url} sent {file.name} encoded ({encoding}, {framing or 'no transfer coding'}), although "
                       "identity was asked for: its bytes are not the file's, nothing was kept", status)
    lengths = {value.strip() for value in headers.get_all("Content-Length") or ()}
    if len(lengths) > 1 or not all(re.fullmatch(r"[0-9]+", value) for value in lengths):
        raise _Refused(f"{url} answered with Content-Length {' and '.join(sorted(lengths))}, not one byte count: "
                       "nothing was kept", status)
    length = int(lengths.pop()) if lengths and not framing else None  # a chunked body's framing marks its end
    if status == 206:
        found = _RANGE.fullmatch((headers.get("Content-Range") or "").strip())
        if not (found and have == int(found[1]) <= int(found[2]) < int(found[3])
                and length in (None, int(found[2]) + 1 - have)):
            if have:
                return None
            raise _Refused(f"{url} answered 206 with Content-Range {headers.get('Content-Range')!r} (Content-Length "
                           f"{length}) to a request for the whole file: nothing was kept", status)
        body_end, total = int(found[2]) + 1, int(found[3])
    elif status == 200:
        total = body_end = length
    else:
        raise _Refused(f"{url} answered {status} {response.reason}, not 200 or 206: nothing was kept", status)
    if total is not None and total > file.max_bytes:
        raise _Refused(f"{url} announced {total:,} bytes for {file.name}, more than its cap of {file.max_bytes:,} bytes: "
                       "refused before writing anything (a plugin fetching a file that large raises RemoteFile.max_bytes)",
                       status)
    if total is None and not framing and not file.checksummed():
        raise _Refused(f"{url} sent {file.name} with neither a Content-Length nor chunked framing, and it has no "
                       "published checksum: a body cut short could not be told from the whole file, nothing was kept",
                       status)
    return body_end, total


def _transfer(file: RemoteFile, part: Path, url: str, quiet: bool, clock: _Clock) -> bool | None:
    """Download ``url`` into ``part``, resuming what it holds. Returns whether the body was
    appended to a partial file (False: it came whole from byte 0), or None when the server
    answered the resume with bytes that cannot follow the partial file (it must be started
    over). A body shorter than announced raises (what came is kept), as does a clock that
    gave up."""
    have = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, have, clock)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not have:
            raise
        # The range starts at the end: the partial file is whole if the server's length says so,
        # or if its checksum will.
        found = _UNSATISFIED.fullmatch((exc.headers.get("Content-Range") or "").strip())
        exc.close()
        return True if (int(found[1]) == have if found else file.checksummed()) else None
    with response:
        _check_type(file, url, response.headers.get("Content-Type"), response.status)
        extent = _extent(file, url, response, have)
        if extent is None:
            return None
        body_end, total = extent
        appended = bool(have) and response.status == 206
        if not appended:
            have = 0  # a 200 to a resume: the server sends the whole file, written from the start
        free = shutil.disk_usage(part.parent).free
        if total is not None and total - have > free:
            raise OSError(f"{total - have:,} more bytes are needed but {part.parent} has {free:,} free; free some space "
                          "and run again")
        limit = file.max_bytes if body_end is None else body_end
        with open(part, "ab" if appended else "wb") as out, Progress(
            total, f"downloading {file.name}", unit="B", initial=have, disable=quiet or None
        ) as bar:
            while (block := response.read1(BLOCK)) and clock.reason is None:
                if have + len(block) > limit:
                    raise _Refused(f"{url} sent more than the {limit:,} bytes "
                                   f"{'it announced' if body_end is not None else f'{file.name} may have'}: what came was "
                                   "deleted", response.status)
                out.write(block)
                out.flush()  # on disk as it comes: a killed process leaves all it got for the next to resume
                bar.update(len(block))
                have += len(block)
                clock.moved(have)
            gave_up = clock.gave_up()
            if gave_up is not None:
                raise gave_up
            if total is not None and have < total:  # the server closed early: keep the part
                raise ConnectionError(f"the connection closed after {have} of {total} bytes, kept to resume from")
    return appended


def _download(file: RemoteFile, target: Path, url: str, quiet: bool, check: Callable[[Path], None] | None,
              bounds: Limits) -> None:
    """Fetch ``url`` into ``target``, resuming ``target.part``; verify before moving into place.

    A resume that the server answers from another offset, or whose result fails
    verification, is discarded and downloaded once more from byte 0; a refusal deletes the
    ``.part``, a failure that a later try can resume keeps it.
    """
    part = target.with_name(target.name + ".part")
    deadline_at = time.monotonic() + bounds.deadline
    while True:
        with _Clock(deadline_at, bounds) as clock:
            try:
                appended = _transfer(file, part, url, quiet, clock)
            except _Refused:
                _discard(part)
                raise
            except (OSError, http.client.HTTPException) as exc:
                gave_up = clock.gave_up(exc)
                if gave_up is not None:
                    raise gave_up from None
                raise
        if appended is not None:
            try:
                verify(file, part, check)
                break
            except BenchError as exc:
                if not appended:
                    _discard(part)
                    if isinstance(exc, ContentError):
                        raise ContentError(f"download of {file.name} from {url} failed verification and was deleted: "
                                           f"{exc}", 200) from None
                    raise BenchError(f"download of {file.name} from {url} failed verification and was deleted: {exc}") from None
        _discard(part)  # a resume that cannot be trusted: once more from byte 0 (then nothing is appended, so it ends)
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
    holder's own deadline and stall timeout bound a stalled one).
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


def _in_place(file: RemoteFile, target: Path, check: Callable[[Path], None] | None) -> bool:
    """Whether ``target`` is there and verified. One that fails ``check`` is deleted, to be
    downloaded again: a file broken on the way is not the source's fault."""
    if not target.exists():
        return False
    try:
        verify(file, target, check)
    except ContentError:
        _discard(target)
        return False
    return True


def fetch(
    file: RemoteFile,
    target: Path,
    *,
    url: str | None = None,
    what: str = "file",
    hint: str = "",
    quiet: bool = False,
    check: Callable[[Path], None] | None = None,
    deadline: float | None = None,
    stall: float | None = None,
) -> Path:
    """The verified file at ``target``, downloaded from ``url`` (default ``file.url``) if absent.

    ``what`` names the kind of file and ``hint`` is appended to the instructions for getting
    it by hand; both go into the one-line error raised offline or when the download fails
    (the harness starts it with the plugin that asked: ``expert 'panns': needs the …``),
    a :class:`DownloadError` when the download failed. ``quiet`` prints no progress lines
    (a caller fetching thousands of small files reports its own). ``check(path)`` raises a
    :class:`BenchError` for content that is not usable: it runs before the file is recorded
    as verified, a fresh download that fails it raises :class:`ContentError`, and a file in
    place that fails it is downloaded again. ``deadline`` and ``stall`` (seconds) override
    the environment's limits (module docstring).

    The download runs under :func:`_exclusive`: a process that waited for another's download
    checks the target again once it holds the lock and returns the file that one verified.
    """
    if _in_place(file, target, check):
        return target
    url = url or file.url
    where = f"download it from {file.url} ({file.expected()}) and put it at {target}{hint}"
    if offline():
        raise BenchError(f"needs the {what} {file.name}, which is not in {target.parent}; {where}")
    bounds = limits(deadline, stall)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(target, file.name):
            if not _in_place(file, target, check):  # else another process downloaded it while this one waited
                _download(file, target, url, quiet, check, bounds)
    except _Refused as exc:
        raise DownloadError(f"{exc}; {where}", exc.status) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = " ".join(str(getattr(exc, "reason", None) or exc).split())  # a malformed status line ends in \r\n
        status = exc.code if isinstance(exc, urllib.error.HTTPError) else None
        raise DownloadError(f"could not download {file.name} from {url} ({reason}); {where}", status) from None
    return target
