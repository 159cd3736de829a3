"""Downloads against a local HTTP server: verified by checksum, resumed, moved into place
atomically, never tried offline, a failed try keeps what came for the next one, and
processes fetching one file at once download it once. Against hostile servers
(:func:`tests.httpserver.serve_script`): a deadline, a stall timeout, a size cap, http(s)
redirects only and a bounded number, and nothing broken ever marked verified."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading
import time

import pytest

from benchmark import download
from benchmark.download import ContentError, DownloadError, Limits, RemoteFile, fetch, file_sha256, verify
from benchmark.errors import BenchError
from tests.httpserver import RangeHandler, serve, serve_script

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    """Online, with the default limits, whatever the caller's environment says."""
    for variable in ("HF_HUB_OFFLINE", "BENCH_OFFLINE", download.DEADLINE_VARIABLE, download.STALL_VARIABLE):
        monkeypatch.delenv(variable, raising=False)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def root(tmp_path, monkeypatch):
    """The served directory: ``model.pth`` and a ``truncated.pth`` (its first 1000 bytes)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    served = tmp_path / "served"
    served.mkdir()
    (served / "model.pth").write_bytes(PAYLOAD)
    (served / "truncated.pth").write_bytes(PAYLOAD[:1000])
    return served


@pytest.fixture
def server(root):
    with serve(root) as url:
        yield url


class Trickle:
    """A handler's output stream that sends in ``CHUNK``-byte pieces ``PAUSE`` seconds apart
    (about 1 MB/s), so downloads started together overlap. With ``hold_after`` set, the first
    response stops after that many bytes until ``release`` is set: its client is stuck mid-file."""

    CHUNK, PAUSE = 32 * 1024, 0.03
    hold_after: int | None = None
    release = threading.Event()

    def __init__(self, out):
        self.out, self.sent, self.hold = out, 0, Trickle.hold_after
        Trickle.hold_after = None  # only the first response holds

    def write(self, data):
        try:
            for start in range(0, len(data), self.CHUNK):
                if self.hold is not None and self.sent >= self.hold:
                    Trickle.release.wait()
                piece = data[start : start + self.CHUNK]
                self.out.write(piece)
                self.sent += len(piece)
                time.sleep(self.PAUSE)
        except OSError:  # the client was killed: nothing to serve
            pass
        return len(data)

    def __getattr__(self, name):
        return getattr(self.out, name)


@pytest.fixture
def trickle(monkeypatch):
    """serve() sends slowly (see :class:`Trickle`) while the test runs."""
    setup = RangeHandler.setup

    def throttled(handler):
        setup(handler)
        handler.wfile = Trickle(handler.wfile)

    Trickle.hold_after = None
    Trickle.release = threading.Event()
    monkeypatch.setattr(RangeHandler, "setup", throttled)
    yield Trickle
    Trickle.release.set()


@pytest.fixture
def processes():
    """Start ``python -c script args...`` with pipes; any still running at the end are killed."""
    started = []

    def start(script, *args):
        child = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        started.append(child)
        return child

    yield start
    for child in started:
        if child.poll() is None:
            child.kill()
        child.communicate()


def listing(directory):
    return sorted(p.name for p in directory.iterdir())


def test_a_download_is_verified_moved_into_place_and_then_reused_without_a_request(server, tmp_path):
    file = RemoteFile("model.pth", f"{server}/model.pth", sha256=sha(PAYLOAD))
    target = tmp_path / "new" / "weights" / "model.pth"  # its directories do not exist yet
    assert fetch(file, target) == target and target.read_bytes() == PAYLOAD
    assert listing(target.parent) == [".model.pth.lock", "model.pth", "model.pth.verified"]  # the idle lock stays
    assert fetch(file, target) == target and RangeHandler.requests == ["/model.pth"]


def test_a_verified_file_is_hashed_again_only_once_it_changes(server, tmp_path, monkeypatch):
    file = RemoteFile("model.pth", f"{server}/model.pth", md5=md5(PAYLOAD))
    target = fetch(file, tmp_path / "model.pth")
    hashed = []
    digests = download.digests
    monkeypatch.setattr(download, "digests", lambda path: hashed.append(path) or digests(path))
    verify(file, target)
    fetch(file, target)
    assert hashed == []  # the record beside it vouches for it
    target.write_bytes(PAYLOAD[:-1] + b"x")  # same size, another mtime
    with pytest.raises(BenchError, match="fails its checksum"):
        fetch(file, target)
    assert hashed == [target] and RangeHandler.requests == ["/model.pth"]  # a wrong file is refused, not replaced


def test_a_verified_file_in_place_is_used_without_writing_anything(server, tmp_path):
    """A data or weights directory may be read-only once prepared."""
    file = RemoteFile("model.pth", f"{server}/model.pth", sha256=sha(PAYLOAD))
    target = fetch(file, tmp_path / "model.pth")
    record = tmp_path / "model.pth.verified"
    before = (record.read_text(), record.stat().st_mtime_ns)
    time.sleep(0.01)  # a rewrite would show in the mtime
    fetch(file, target)
    verify(file, target)
    assert (record.read_text(), record.stat().st_mtime_ns) == before


def test_a_record_vouches_only_for_the_checksum_it_was_made_for(tmp_path):
    """A plugin that moves to a new release of a file names its new checksum: the file in
    place is checked against that one, not waved through by the old record."""
    path = tmp_path / "model.pth"
    path.write_bytes(PAYLOAD)
    verify(RemoteFile("model.pth", "https://example.invalid/model.pth", sha256=sha(PAYLOAD)), path)
    newer = RemoteFile("model.pth", "https://example.invalid/model.pth", sha256=sha(b"release 2"))
    with pytest.raises(BenchError, match="fails its checksum"):
        verify(newer, path)
    path.write_bytes(b"release 2")
    verify(newer, path)


def test_file_sha256_hashes_a_file_once_per_content(tmp_path, monkeypatch):
    hashed = []
    digests = download.digests
    monkeypatch.setattr(download, "digests", lambda path: hashed.append(path) or digests(path))
    path = tmp_path / "captions.csv"
    path.write_bytes(b"first")
    assert file_sha256(path) == file_sha256(path) == sha(b"first") and len(hashed) == 1
    path.write_bytes(b"second version")
    assert file_sha256(path) == sha(b"second version") and len(hashed) == 2


def test_an_interrupted_download_resumes_where_it_stopped_and_says_so(server, tmp_path, capsys):
    target = tmp_path / "model.pth"
    target.with_name("model.pth.part").write_bytes(PAYLOAD[:300_000])
    file = RemoteFile("model.pth", f"{server}/model.pth", md5=md5(PAYLOAD))
    assert fetch(file, target).read_bytes() == PAYLOAD
    assert RangeHandler.requests == ["/model.pth bytes=300000-"]
    assert listing(tmp_path) == [".model.pth.lock", "model.pth", "model.pth.verified", "served"]
    progress = capsys.readouterr().err.splitlines()
    assert progress[0] == "downloading model.pth: 300 kB/1.05 MB"  # counts what was kept
    assert progress[-1].startswith("downloading model.pth: 1.05 MB/1.05 MB in ")


def test_a_server_that_ignores_the_range_gets_the_file_written_from_the_start(root, tmp_path):
    target = tmp_path / "model.pth"
    target.with_name("model.pth.part").write_bytes(b"not the published bytes" * 1000)
    with serve(root, ranges=False) as url:
        fetch(RemoteFile("model.pth", f"{url}/model.pth", sha256=sha(PAYLOAD)), target)
    assert target.read_bytes() == PAYLOAD and RangeHandler.requests == ["/model.pth bytes=23000-"]


def test_a_partial_file_that_was_already_whole_is_verified_and_moved_into_place(server, tmp_path):
    target = tmp_path / "model.pth"
    target.with_name("model.pth.part").write_bytes(PAYLOAD)  # killed before the rename
    fetch(RemoteFile("model.pth", f"{server}/model.pth", sha256=sha(PAYLOAD)), target)
    assert target.read_bytes() == PAYLOAD and RangeHandler.requests == [f"/model.pth bytes={len(PAYLOAD)}-"]


def test_a_connection_that_closes_early_keeps_what_came_and_the_next_try_resumes(root, tmp_path, capsys):
    target = tmp_path / "model.pth"
    file = RemoteFile("model.pth", "https://example.invalid/model.pth", sha256=sha(PAYLOAD))
    with serve(root, cut_once=300_000) as url:
        with pytest.raises(BenchError) as caught:
            fetch(file, target, url=f"{url}/model.pth")
        assert f"could not download model.pth from {url}/model.pth (" in str(caught.value)
        assert target.with_name("model.pth.part").read_bytes() == PAYLOAD[:300_000] and not target.exists()
        assert ": stopped at 300 kB/1.05 MB" in capsys.readouterr().err
        assert fetch(file, target, url=f"{url}/model.pth").read_bytes() == PAYLOAD
    assert RangeHandler.requests == ["/model.pth", "/model.pth bytes=300000-"]


def test_a_failed_request_keeps_the_partial_file_and_names_the_reason(server, tmp_path):
    target = tmp_path / "absent.pth"
    target.with_name("absent.pth.part").write_bytes(PAYLOAD[:1000])
    file = RemoteFile("absent.pth", f"{server}/absent.pth", sha256=sha(PAYLOAD))
    with pytest.raises(BenchError) as caught:
        fetch(file, target, what="archive", hint=" (or set DEMO_DIR)")
    message = str(caught.value)
    assert message.startswith(f"could not download absent.pth from {server}/absent.pth (Not Found); ")
    assert str(target) in message and message.endswith(" (or set DEMO_DIR)") and "\n" not in message
    assert target.with_name("absent.pth.part").read_bytes() == PAYLOAD[:1000] and not target.exists()


@pytest.fixture
def declared(monkeypatch):
    """``declared(value)`` makes serve() send ``Content-Type: value`` with every file."""

    def use(value):
        def typed(handler):
            handler.send_header("Content-Type", value)
            http.server.BaseHTTPRequestHandler.end_headers(handler)

        monkeypatch.setattr(RangeHandler, "end_headers", typed)

    return use


OGG = ("audio/ogg", "application/ogg")


def test_a_response_of_another_content_type_is_refused_and_nothing_of_it_is_kept(server, tmp_path, declared):
    """An error page sent with 200 is never saved as the file, nor appended to a partial one."""
    declared("text/html; charset=utf-8")
    target = tmp_path / "model.pth"
    with pytest.raises(DownloadError) as caught:
        fetch(RemoteFile("model.pth", f"{server}/model.pth", content_types=OGG), target)
    assert str(caught.value) == (f"{server}/model.pth answered with Content-Type text/html, not audio/ogg or application/ogg: "
                                 "not model.pth (an error page?); nothing of it was kept")
    assert caught.value.status == 200 and listing(tmp_path) == [".model.pth.lock", "served"]
    target.with_name("model.pth.part").write_bytes(PAYLOAD[:1000])  # a resumed download is checked too
    with pytest.raises(DownloadError, match="answered with Content-Type text/html"):
        fetch(RemoteFile("model.pth", f"{server}/model.pth", content_types=OGG), target)
    assert target.with_name("model.pth.part").read_bytes() == PAYLOAD[:1000]
    assert RangeHandler.requests == ["/model.pth", "/model.pth bytes=1000-"]


def test_a_response_of_a_declared_content_type_is_downloaded(server, tmp_path, declared):
    declared("Audio/Ogg; codecs=vorbis")  # the parameters and the case do not matter
    file = RemoteFile("model.pth", f"{server}/model.pth", content_types=OGG)
    assert fetch(file, tmp_path / "model.pth").read_bytes() == PAYLOAD


def test_a_response_that_declares_no_content_type_is_refused_when_one_is_asked_for(server, tmp_path):
    file = RemoteFile("model.pth", f"{server}/model.pth", content_types=OGG)  # serve() declares none
    with pytest.raises(DownloadError, match=r"answered with Content-Type \(none\), not audio/ogg"):
        fetch(file, tmp_path / "model.pth")
    assert fetch(RemoteFile("model.pth", f"{server}/model.pth"), tmp_path / "model.pth").read_bytes() == PAYLOAD


def test_a_failed_download_says_the_servers_status(root, server, tmp_path):
    """404 for a file gone upstream; None for a connection that closed early (resumable)."""
    with pytest.raises(DownloadError) as gone:
        fetch(RemoteFile("absent.pth", f"{server}/absent.pth"), tmp_path / "absent.pth")
    assert gone.value.status == 404 and isinstance(gone.value, BenchError)
    with serve(root, cut_once=300_000) as url, pytest.raises(DownloadError) as cut:
        fetch(RemoteFile("model.pth", f"{url}/model.pth"), tmp_path / "model.pth")
    assert cut.value.status is None and tmp_path.joinpath("model.pth.part").stat().st_size == 300_000


def test_a_quiet_download_prints_no_progress(server, tmp_path, capsys):
    fetch(RemoteFile("model.pth", f"{server}/model.pth", sha256=sha(PAYLOAD)), tmp_path / "model.pth", quiet=True)
    assert capsys.readouterr().err == "" and (tmp_path / "model.pth").read_bytes() == PAYLOAD


def test_a_file_with_the_wrong_checksum_is_deleted_and_never_used(server, tmp_path):
    file = RemoteFile("truncated.pth", f"{server}/truncated.pth", sha256=sha(PAYLOAD))
    with pytest.raises(BenchError, match=r"download of truncated.pth from .* failed verification and was deleted"):
        fetch(file, tmp_path / "truncated.pth")
    assert listing(tmp_path) == [".truncated.pth.lock", "served"]


def test_a_torch_hub_prefix_is_checked(server, tmp_path):
    target = tmp_path / "model.pth"
    fetch(RemoteFile("model.pth", f"{server}/model.pth", sha256_prefix=sha(PAYLOAD)[:8]), target)
    assert target.read_bytes() == PAYLOAD
    with pytest.raises(BenchError, match="expected sha256 starting 00000000"):
        verify(RemoteFile("model.pth", f"{server}/model.pth", sha256_prefix="00000000"), target)


def test_without_a_published_checksum_the_first_copy_is_pinned(server, tmp_path):
    file = RemoteFile("model.pth", f"{server}/model.pth")
    path = fetch(file, tmp_path / "model.pth")
    path.write_bytes(PAYLOAD[:-1] + b"x")  # changed after the first use
    with pytest.raises(BenchError, match="recorded at first use"):
        verify(file, path)


@pytest.mark.parametrize(
    "variable, value, checksum, expected",
    [
        ("BENCH_OFFLINE", "1", {"sha256": sha(PAYLOAD)}, f"sha256 {sha(PAYLOAD)}"),
        ("HF_HUB_OFFLINE", "true", {"md5": md5(PAYLOAD)}, f"md5 {md5(PAYLOAD)}"),
        ("BENCH_OFFLINE", " Yes ", {"sha256_prefix": "abcd1234"}, "sha256 starting abcd1234"),
    ],
)
def test_offline_nothing_is_requested_and_the_error_says_where_to_get_the_file(
    server, tmp_path, monkeypatch, variable, value, checksum, expected
):
    monkeypatch.setenv(variable, value)
    target = tmp_path / "weights" / "model.pth"
    with pytest.raises(BenchError) as caught:
        fetch(RemoteFile("model.pth", f"{server}/model.pth", **checksum), target, what="weights file")
    message = str(caught.value)
    assert message.startswith(f"needs the weights file model.pth, which is not in {target.parent}; ")
    assert f"download it from {server}/model.pth ({expected}) and put it at {target}" in message
    assert RangeHandler.requests == [] and not target.parent.exists()


FETCH_WEIGHTS = """
import pathlib, sys, time
from benchmark.weights import WeightFile, fetch_weights
print("ready", flush=True)
go = pathlib.Path(sys.argv[1])
while not go.exists():
    time.sleep(0.005)
print(fetch_weights(WeightFile("model.pth", sys.argv[2], sha256=sys.argv[3])))
"""


def test_four_processes_fetching_one_weights_file_at_once_download_it_once(server, trickle, processes, tmp_path, monkeypatch):
    """As ``torchrun`` ranks do: one downloads, three wait on the lock, say so, and use its verified file."""
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.delenv("RANK", raising=False)
    go = tmp_path / "go"
    children = [processes(FETCH_WEIGHTS, go, f"{server}/model.pth", sha(PAYLOAD)) for _ in range(4)]
    assert [child.stdout.readline() for child in children] == ["ready\n"] * 4  # imported; all start together
    go.touch()
    outputs = [child.communicate(timeout=30) for child in children]
    target = tmp_path / "weights" / "model.pth"
    assert [child.returncode for child in children] == [0] * 4, [err for _, err in outputs]
    assert [out for out, _ in outputs] == [f"{target}\n"] * 4 and target.read_bytes() == PAYLOAD
    assert RangeHandler.requests == ["/model.pth"]  # one download, whole, not resumed
    downloaded = [err for _, err in outputs if err.startswith("downloading model.pth: 0 B/1.05 MB\n")]
    waited = [err for _, err in outputs if err == f"waiting for another process's download of model.pth into {target.parent}\n"]
    assert len(downloaded) == 1 and len(waited) == 3, [err for _, err in outputs]
    assert listing(target.parent) == [".model.pth.lock", "model.pth", "model.pth.verified"]


FETCH_ARCHIVE = """
import pathlib, sys
from benchmark.download import RemoteFile, fetch
file = RemoteFile("big.7z", sys.argv[1], md5=sys.argv[2])
print(fetch(file, pathlib.Path(sys.argv[3]), what="archive"))
"""


def test_a_waiting_process_takes_over_when_the_downloading_one_is_killed_and_resumes_its_part(
    root, server, trickle, processes, tmp_path
):
    """The lock has no timeout because the kernel frees it when its holder dies: the waiter
    then holds it, and resumes the ``.part`` the dead process left."""
    big = PAYLOAD + PAYLOAD[:500_000]
    (root / "big.7z").write_bytes(big)
    target = tmp_path / "archives" / "big.7z"
    part = target.with_name("big.7z.part")
    trickle.hold_after = 1_200_000  # the first client gets 37 pieces of 32 KiB written, then hangs
    held = 37 * Trickle.CHUNK
    first = processes(FETCH_ARCHIVE, f"{server}/big.7z", md5(big), target)
    deadline = time.monotonic() + 20
    while not (part.exists() and part.stat().st_size == held):
        assert time.monotonic() < deadline and first.poll() is None, "the first download never wrote what it got"
        time.sleep(0.02)
    second = processes(FETCH_ARCHIVE, f"{server}/big.7z", md5(big), target)
    assert second.stderr.readline() == f"waiting for another process's download of big.7z into {target.parent}\n"
    first.kill()
    out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert out == f"{target}\n" and target.read_bytes() == big and not part.exists()
    assert RangeHandler.requests == ["/big.7z", f"/big.7z bytes={held}-"]


def test_a_lock_file_left_behind_does_not_stop_a_later_download(server, tmp_path):
    target = tmp_path / "model.pth"
    download.lock_path(target).write_text("left by a run that was killed")
    fetch(RemoteFile("model.pth", f"{server}/model.pth", sha256=sha(PAYLOAD)), target)
    assert target.read_bytes() == PAYLOAD and RangeHandler.requests == ["/model.pth"]


@pytest.mark.parametrize("rank, says", [("0", True), ("1", False)])
def test_only_a_reporting_process_says_it_waits_for_another_download(tmp_path, capsys, monkeypatch, rank, says):
    """A non-zero ``torchrun`` rank waits quietly, as its progress bars are quiet."""
    import threading

    from filelock import FileLock

    monkeypatch.setenv("RANK", rank)
    target = tmp_path / "model.pth"
    holder = FileLock(download.lock_path(target))
    holder.acquire()  # another process's download
    got = threading.Event()

    def wait() -> None:
        with download._exclusive(target, "model.pth"):
            got.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    assert not got.wait(0.3)  # it waits ...
    holder.release()
    waiter.join(5)
    assert got.is_set()  # ... until the lock is free
    said = f"waiting for another process's download of model.pth into {tmp_path}\n"
    assert capsys.readouterr().err == (said if says else "")


# --- limits: no server can hold a run, fill a disk or lead the download elsewhere ---------

SMALL = PAYLOAD[:5874]  # a preview-sized file


def fails(file, target, **options):
    """The one-line DownloadError that fetching ``file`` into ``target`` raises."""
    with pytest.raises(DownloadError) as caught:
        fetch(file, target, quiet=True, **options)
    assert "\n" not in str(caught.value) and "\r" not in str(caught.value)
    return caught.value


def where(file, target):
    """The end of every download error: how to get the file by hand."""
    return f"; download it from {file.url} ({file.expected()}) and put it at {target}"


def whole(data, content_type=None):
    """A script answering every request with ``data``, whole, as a plain server does."""

    def script(handler):
        headers = [("Content-Length", len(data))] + ([("Content-Type", content_type)] if content_type else [])
        handler.respond("200 OK", headers, data)

    return script


def test_the_default_limits_are_four_hours_a_minute_without_progress_and_16_gib():
    assert download.limits() == Limits(deadline=4 * 3600, stall=60)
    assert RemoteFile("a", "http://127.0.0.1/a").max_bytes == 16 * 2**30


def test_a_server_trickling_a_byte_at_a_time_is_given_up_within_the_stall_timeout(tmp_path, monkeypatch):
    """Every read returns within any per-read timeout, yet 20 bytes would take 5 s."""
    monkeypatch.setenv("BENCH_DOWNLOAD_STALL_SECONDS", "1")

    def trickle(handler):
        handler.respond("200 OK", [("Content-Length", 20)])
        for byte in SMALL[:20]:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.25)

    with serve_script(trickle) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        error = fails(file, tmp_path / "f.ogg")
    assert str(error) == (f"could not download f.ogg from {file.url} (gave up: less than 64 KiB came in 1 s, the stall "
                          "timeout (BENCH_DOWNLOAD_STALL_SECONDS); what came is kept for the next try)"
                          + where(file, tmp_path / "f.ogg"))
    kept = (tmp_path / "f.ogg.part").read_bytes()
    assert len(kept) < 20 and SMALL.startswith(kept) and error.status is None and not (tmp_path / "f.ogg").exists()


@pytest.mark.parametrize("start, trickled", [(b"HTTP/1.1 200 OK\r\nX-Padding: ", b"a"), (b"HTTP/1.1 2", b"0")])
def test_a_server_trickling_its_headers_is_given_up_too(tmp_path, start, trickled):
    """The connection is shut down under the header (or the status line) being read: the
    download gives up while the server is still trickling, not once the response is whole."""
    finished = threading.Event()

    def slow_headers(handler):
        handler.wfile.write(start)
        for _ in range(40):
            handler.wfile.write(trickled)
            handler.wfile.flush()
            time.sleep(0.25)
        finished.set()
        handler.wfile.write(b"\r\nContent-Length: 5\r\n\r\nhello")

    with serve_script(slow_headers) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        error = fails(file, tmp_path / "f.ogg", stall=1)
        assert not finished.is_set()
    assert str(error).startswith(f"could not download f.ogg from {file.url} (gave up: less than 64 KiB came in 1 s")
    assert not (tmp_path / "f.ogg").exists()


def steady(pieces, piece, pause, chunked=False, then=b"", every=0.25):
    """A script sending ``pieces`` pieces of ``piece`` bytes ``pause`` seconds apart (chunked
    or with a Content-Length), then trickling ``then`` a byte ``every`` seconds."""
    body = PAYLOAD[: pieces * piece] + then

    def script(handler):
        handler.respond("200 OK", [("Transfer-Encoding", "chunked")] if chunked else [("Content-Length", len(body))])
        frame = (lambda data: b"%x\r\n%s\r\n" % (len(data), data)) if chunked else (lambda data: data)
        for start in range(0, pieces * piece, piece):
            handler.wfile.write(frame(body[start : start + piece]))
            handler.wfile.flush()
            time.sleep(pause)
        for byte in then:
            handler.wfile.write(frame(bytes([byte])))
            handler.wfile.flush()
            time.sleep(every)
        handler.wfile.write(b"0\r\n\r\n" if chunked else b"")

    return script


def test_a_slow_download_making_progress_outlives_the_stall_timeout(tmp_path):
    """64 KiB every 0.3 s for 2.4 s in all, with a stall timeout of 1 s: progress resets it."""
    with serve_script(steady(8, 65536, 0.3)) as served:
        target = fetch(RemoteFile("model.pth", f"{served.url}/model.pth"), tmp_path / "model.pth", stall=1, quiet=True)
    assert target.read_bytes() == PAYLOAD[: 8 * 65536]


@pytest.mark.parametrize("chunked", [False, True])
def test_a_trickle_after_a_fast_start_is_a_stall(tmp_path, chunked):
    """128 KiB at once, then a byte every 0.25 s: given up, and a chunked body (whose length
    nobody announced) is not taken for whole where it stopped."""
    with serve_script(steady(2, 65536, 0, chunked=chunked, then=b"x" * 20)) as served:
        file = RemoteFile("model.pth", f"{served.url}/model.pth")
        error = fails(file, tmp_path / "model.pth", stall=1)
    assert str(error).startswith(f"could not download model.pth from {file.url} (gave up: less than 64 KiB came in 1 s")
    assert 2 * 65536 <= (tmp_path / "model.pth.part").stat().st_size < 2 * 65536 + 20
    assert not (tmp_path / "model.pth").exists()


def test_a_read_that_times_out_is_a_stall_too():
    """A socket's own timeout (no byte for ``stall`` seconds) may come before the clock's."""
    import urllib.error

    clock = download._Clock(deadline_at=float("inf"), limits=Limits(deadline=60, stall=2.5))
    assert clock.gave_up(ConnectionResetError("reset")) is None and clock.gave_up() is None
    for timeout in (TimeoutError("timed out"), urllib.error.URLError(TimeoutError("timed out"))):
        clock.reason = None
        assert str(clock.gave_up(timeout)) == ("gave up: less than 64 KiB came in 2.5 s, the stall timeout "
                                               "(BENCH_DOWNLOAD_STALL_SECONDS); what came is kept for the next try")


def test_a_download_that_keeps_coming_is_given_up_at_its_deadline(tmp_path):
    """64 KiB every 50 ms is progress, but 3 MiB take longer than the 0.5 s allowed."""

    def steady(handler):
        handler.respond("200 OK", [("Content-Length", 48 * 65536)])
        for _ in range(48):
            handler.wfile.write(PAYLOAD[:65536])
            handler.wfile.flush()
            time.sleep(0.05)

    with serve_script(steady) as served:
        file = RemoteFile("model.pth", f"{served.url}/model.pth")
        error = fails(file, tmp_path / "model.pth", deadline=0.5, stall=30)
    assert str(error).startswith(f"could not download model.pth from {file.url} (gave up: not done after 0.5 s, the "
                                 "deadline (BENCH_DOWNLOAD_DEADLINE_SECONDS); what came is kept for the next try); ")
    assert (tmp_path / "model.pth.part").stat().st_size < 48 * 65536


@pytest.mark.parametrize(
    "variable, value",
    [("BENCH_DOWNLOAD_STALL_SECONDS", "abc"), ("BENCH_DOWNLOAD_STALL_SECONDS", "0"), ("BENCH_DOWNLOAD_DEADLINE_SECONDS", "-1"),
     ("BENCH_DOWNLOAD_DEADLINE_SECONDS", "nan"), ("BENCH_DOWNLOAD_DEADLINE_SECONDS", "inf")],
)
def test_a_limit_that_is_not_a_number_of_seconds_is_named_before_any_request(server, tmp_path, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    default = {"BENCH_DOWNLOAD_STALL_SECONDS": "60", "BENCH_DOWNLOAD_DEADLINE_SECONDS": "14400"}[variable]
    with pytest.raises(BenchError) as caught:
        fetch(RemoteFile("model.pth", f"{server}/model.pth"), tmp_path / "model.pth")
    assert str(caught.value) == (f"{variable}={value!r} is not a number of seconds above 0: set it to one, or leave it unset "
                                 f"for the default ({default} s)")
    assert RangeHandler.requests == [] and not (tmp_path / "model.pth.part").exists()


def test_the_arguments_of_fetch_override_the_environment_and_are_checked_alike(server, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DOWNLOAD_STALL_SECONDS", "abc")
    file = RemoteFile("model.pth", f"{server}/model.pth", sha256=sha(PAYLOAD))
    assert fetch(file, tmp_path / "model.pth", stall=30, deadline=60.5).read_bytes() == PAYLOAD
    assert download.limits(deadline=2, stall="0.5") == Limits(deadline=2, stall=0.5)
    with pytest.raises(BenchError, match=r"^fetch's deadline=0 is not a number of seconds above 0: set it to one, or leave "
                                         r"it unset for the default \(14400 s\)$"):
        fetch(file, tmp_path / "other.pth", deadline=0)
    with pytest.raises(BenchError, match=r"^fetch's stall='None\?' is not a number .* \(60 s\)$"):
        fetch(file, tmp_path / "other.pth", stall="None?")
    assert RangeHandler.requests == ["/model.pth"]


@pytest.mark.parametrize("checksum", [{}, {"sha256": sha(PAYLOAD)}])
def test_a_content_length_above_the_cap_is_refused_before_a_byte_is_written(tmp_path, checksum):
    with serve_script(lambda handler: handler.respond("200 OK", [("Content-Length", 10**12)], PAYLOAD[:1000])) as served:
        file = RemoteFile("model.pth", f"{served.url}/model.pth", **checksum)
        error = fails(file, tmp_path / "model.pth")
    assert str(error) == (f"{file.url} announced 1,000,000,000,000 bytes for model.pth, more than its cap of 17,179,869,184 "
                          "bytes: refused before writing anything (a plugin fetching a file that large raises "
                          "RemoteFile.max_bytes)" + where(file, tmp_path / "model.pth"))
    assert error.status == 200 and listing(tmp_path) == [".model.pth.lock"]


def test_a_resume_whose_total_exceeds_the_cap_deletes_the_partial_file(tmp_path):
    def huge(handler):
        handler.respond("206 Partial Content", [("Content-Range", f"bytes 1000-{10**12 - 1}/{10**12}"),
                                                ("Content-Length", 10**12 - 1000)], PAYLOAD[1000:2000])

    (tmp_path / "model.pth.part").write_bytes(PAYLOAD[:1000])
    with serve_script(huge) as served:
        error = fails(RemoteFile("model.pth", f"{served.url}/model.pth"), tmp_path / "model.pth")
    assert "announced 1,000,000,000,000 bytes for model.pth" in str(error)
    assert listing(tmp_path) == [".model.pth.lock"] and served.requests == ["/model.pth bytes=1000-"]


def test_a_cap_set_by_the_caller_holds_to_the_byte(tmp_path):
    with serve_script(whole(SMALL)) as served:
        url = f"{served.url}/f.ogg"
        error = fails(RemoteFile("f.ogg", url, max_bytes=len(SMALL) - 1), tmp_path / "f.ogg")
        assert f"announced 5,874 bytes for f.ogg, more than its cap of 5,873 bytes" in str(error)
        assert fetch(RemoteFile("f.ogg", url, max_bytes=len(SMALL)), tmp_path / "f.ogg").read_bytes() == SMALL


def chunked(data, size=1):
    """``data`` in HTTP/1.1 chunked framing, ``size`` bytes a chunk, with its terminating chunk."""
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def test_a_body_without_a_length_is_cut_off_at_the_cap_and_deleted(tmp_path):
    body = chunked(SMALL, 1000)
    with serve_script(lambda h: h.respond("200 OK", [("Transfer-Encoding", "chunked")], body)) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg", max_bytes=5000)
        error = fails(file, tmp_path / "f.ogg")
        assert str(error) == f"{file.url} sent more than the 5,000 bytes f.ogg may have: what came was deleted" + where(
            file, tmp_path / "f.ogg")
        assert listing(tmp_path) == [".f.ogg.lock"]
        assert fetch(RemoteFile("f.ogg", file.url, max_bytes=len(SMALL)), tmp_path / "f.ogg").read_bytes() == SMALL


def test_a_huge_number_of_tiny_chunks_is_downloaded_whole(tmp_path):
    """20,000 chunks of one byte: chunked framing marks the end, so no length is needed."""
    body = chunked(PAYLOAD[:20_000])
    with serve_script(lambda h: h.respond("200 OK", [("Transfer-Encoding", "chunked")], body)) as served:
        assert fetch(RemoteFile("f.bin", f"{served.url}/f.bin"), tmp_path / "f.bin", quiet=True).read_bytes() == PAYLOAD[:20_000]


def test_a_chunked_body_cut_before_its_last_chunk_is_kept_to_resume_not_accepted(tmp_path):
    body = chunked(SMALL, 1000)[:3000]
    with serve_script(lambda h: h.respond("200 OK", [("Transfer-Encoding", "chunked")], body)) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        error = fails(file, tmp_path / "f.ogg")
    assert str(error).startswith(f"could not download f.ogg from {file.url} (IncompleteRead(") and error.status is None
    assert SMALL.startswith((tmp_path / "f.ogg.part").read_bytes()) and not (tmp_path / "f.ogg").exists()


def test_a_content_length_beyond_the_free_space_is_refused_and_the_partial_file_kept(server, tmp_path, monkeypatch):
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=len(PAYLOAD) - 1001))
    target = tmp_path / "model.pth"
    target.with_name("model.pth.part").write_bytes(PAYLOAD[:1000])
    file = RemoteFile("model.pth", f"{server}/model.pth")
    error = fails(file, target)
    assert str(error) == (f"could not download model.pth from {file.url} ({len(PAYLOAD) - 1000:,} more bytes are needed but "
                          f"{tmp_path} has {len(PAYLOAD) - 1001:,} free; free some space and run again)" + where(file, target))
    assert target.with_name("model.pth.part").read_bytes() == PAYLOAD[:1000]
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=len(PAYLOAD) - 1000))
    assert fetch(file, target).read_bytes() == PAYLOAD


def redirects(routes):
    """A script answering the paths in ``routes`` with ``302`` to their location, and any
    other path with SMALL."""

    def script(handler):
        if handler.path in routes:
            handler.respond("302 Found", [("Location", routes[handler.path]), ("Content-Length", 0)])
        else:
            whole(SMALL)(handler)

    return script


@pytest.mark.parametrize("location", ["ftp://127.0.0.1:9/f.ogg", "file:///etc/passwd", "javascript:alert(1)"])
def test_a_redirect_to_another_scheme_is_refused_naming_the_url(tmp_path, location):
    (tmp_path / "f.ogg.part").write_bytes(SMALL[:100])
    with serve_script(redirects({"/f.ogg": location})) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        error = fails(file, tmp_path / "f.ogg")
    assert str(error) == (f"{file.url} redirected to {location}: only http and https URLs are followed, nothing was "
                          "downloaded" + where(file, tmp_path / "f.ogg"))
    assert error.status == 302 and listing(tmp_path) == [".f.ogg.lock"]  # a resume cannot help


def test_a_redirect_loop_through_relative_urls_is_one_line_naming_the_first_url_and_the_loop(tmp_path):
    with serve_script(redirects({"/f.ogg": "/a", "/a": "b", "/b": "./a"})) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        error = fails(file, tmp_path / "f.ogg")
    u = served.url
    assert str(error) == (f"{u}/f.ogg redirects in a loop ({u}/a -> {u}/b -> {u}/a): nothing was downloaded"
                          + where(file, tmp_path / "f.ogg"))
    assert served.requests == ["/f.ogg", "/a", "/b"]


@pytest.mark.parametrize("hops", [5, 6])
def test_five_redirects_are_followed_and_a_sixth_is_refused(tmp_path, hops):
    (tmp_path / "f.ogg.part").write_bytes(SMALL[:100])
    with serve_script(redirects({f"/r{i}": f"/r{i + 1}" for i in range(hops)})) as served:
        file = RemoteFile("f.ogg", f"{served.url}/r0")
        if hops == 5:
            assert fetch(file, tmp_path / "f.ogg").read_bytes() == SMALL
            assert served.requests == [f"/r{i} bytes=100-" for i in range(6)]  # the range asked for on every hop
        else:
            error = fails(file, tmp_path / "f.ogg")
            assert str(error) == (f"{file.url} redirected more than 5 times (to {served.url}/r6): nothing was downloaded"
                                  + where(file, tmp_path / "f.ogg"))
            assert len(served.requests) == 6 and listing(tmp_path) == [".f.ogg.lock"]


@pytest.mark.parametrize("status", ["301 Moved Permanently", "302 Found", "303 See Other", "307 Temporary Redirect",
                                    "308 Permanent Redirect"])
def test_every_kind_of_redirect_is_followed(tmp_path, status):
    def moved(handler):
        if handler.path == "/old.ogg":
            handler.respond(status, [("Location", "/f.ogg"), ("Content-Length", 0)])
        else:
            whole(SMALL)(handler)

    with serve_script(moved) as served:
        assert fetch(RemoteFile("f.ogg", f"{served.url}/old.ogg"), tmp_path / "f.ogg").read_bytes() == SMALL
    assert served.requests == ["/old.ogg", "/f.ogg"]


def test_a_redirect_without_a_location_is_refused(tmp_path):
    with serve_script(lambda h: h.respond("301 Moved Permanently", [("Content-Length", 0)])) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        error = fails(file, tmp_path / "f.ogg")
    assert str(error).startswith(f"{file.url} answered 301 without a Location to follow: nothing was downloaded; ")


def test_a_redirect_from_https_down_to_plain_http_is_refused(tmp_path, monkeypatch):
    """The https URLs are answered by the local plain server (there is no certificate here);
    what is checked is where a redirect leads: down to http, where a file without a
    checksum could be altered on the way, is refused; https to https is followed."""
    import urllib.request

    def plain(handler, request):
        request.full_url = request.full_url.replace("https://", "http://", 1)
        return urllib.request.HTTPHandler.http_open(handler, request)

    monkeypatch.setattr(download._Handler, "https_open", plain)
    routes = {}
    with serve_script(redirects(routes)) as served:
        secure = served.url.replace("http://", "https://")
        routes.update({"/down.ogg": f"{served.url}/f.ogg", "/up.ogg": f"{secure}/f.ogg"})
        file = RemoteFile("f.ogg", f"{secure}/down.ogg")
        error = fails(file, tmp_path / "f.ogg")
        assert str(error) == (f"{file.url} redirected from https to plain http ({served.url}/f.ogg): refused, as the file "
                              "could be altered on the way" + where(file, tmp_path / "f.ogg"))
        assert fetch(RemoteFile("f.ogg", f"{secure}/up.ogg"), tmp_path / "f.ogg").read_bytes() == SMALL
    assert served.requests == ["/down.ogg", "/up.ogg", "/f.ogg"]


def test_a_resume_answered_from_another_offset_is_discarded_and_the_file_fetched_whole(tmp_path):
    """Not spliced: a 206 sending the file from byte 0 to a request for byte 1,500 onwards."""

    def from_zero(handler):
        if handler.headers.get("Range"):
            handler.respond("206 Partial Content", [("Content-Range", f"bytes 0-{len(SMALL) - 1}/{len(SMALL)}"),
                                                    ("Content-Length", len(SMALL))], SMALL)
        else:
            whole(SMALL)(handler)

    (tmp_path / "f.ogg.part").write_bytes(SMALL[:1500])
    with serve_script(from_zero) as served:
        assert fetch(RemoteFile("f.ogg", f"{served.url}/f.ogg"), tmp_path / "f.ogg").read_bytes() == SMALL
    assert served.requests == ["/f.ogg bytes=1500-", "/f.ogg"]


@pytest.mark.parametrize(
    "content_range, length",
    [("bytes 1500-5873/5874", 4000), (None, 4374), ("bytes 1500-5873/*", 4374), ("bytes 1500-5873/5000", 4374),
     ("bytes 1600-1499/5874", 0), ("items 1500-5873/5874", 4374), ("bytes 1500-5874/5874", 4375)],
)
def test_a_resume_with_a_range_that_does_not_add_up_is_discarded_and_the_file_fetched_whole(tmp_path, content_range, length):
    def odd(handler):
        if handler.headers.get("Range"):
            headers = [("Content-Length", length)] + ([("Content-Range", content_range)] if content_range else [])
            handler.respond("206 Partial Content", headers, SMALL[1500 : 1500 + length])
        else:
            whole(SMALL)(handler)

    (tmp_path / "f.ogg.part").write_bytes(SMALL[:1500])
    with serve_script(odd) as served:
        assert fetch(RemoteFile("f.ogg", f"{served.url}/f.ogg"), tmp_path / "f.ogg").read_bytes() == SMALL
    assert served.requests == ["/f.ogg bytes=1500-", "/f.ogg"]


def test_a_resume_of_the_last_byte_alone_is_appended(tmp_path):
    def last(handler):
        handler.respond("206 Partial Content", [("Content-Range", "bytes 5873-5873/5874"), ("Content-Length", 1)], SMALL[-1:])

    (tmp_path / "f.ogg.part").write_bytes(SMALL[:-1])
    with serve_script(last) as served:
        assert fetch(RemoteFile("f.ogg", f"{served.url}/f.ogg"), tmp_path / "f.ogg").read_bytes() == SMALL
    assert served.requests == ["/f.ogg bytes=5873-"]


def test_a_206_sending_more_than_its_range_is_refused(tmp_path):
    """Without a Content-Length the range's end is where the body must stop."""

    def longer(handler):
        handler.respond("206 Partial Content", [("Content-Range", "bytes 1500-5873/5874")], SMALL[1500:] + b"!")

    (tmp_path / "f.ogg.part").write_bytes(SMALL[:1500])
    with serve_script(longer) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        error = fails(file, tmp_path / "f.ogg")
    assert str(error) == f"{file.url} sent more than the 5,874 bytes it announced: what came was deleted" + where(
        file, tmp_path / "f.ogg")
    assert listing(tmp_path) == [".f.ogg.lock"]


def test_a_206_to_a_request_for_the_whole_file_is_taken_only_from_byte_0(tmp_path):
    def partial(start):
        def script(handler):
            handler.respond("206 Partial Content", [("Content-Range", f"bytes {start}-{len(SMALL) - 1}/{len(SMALL)}"),
                                                    ("Content-Length", len(SMALL) - start)], SMALL[start:])
        return script

    with serve_script(partial(0)) as served:
        assert fetch(RemoteFile("f.ogg", f"{served.url}/f.ogg"), tmp_path / "f.ogg").read_bytes() == SMALL
    with serve_script(partial(100)) as served:
        file = RemoteFile("g.ogg", f"{served.url}/g.ogg")
        error = fails(file, tmp_path / "g.ogg")
    assert str(error) == (f"{file.url} answered 206 with Content-Range 'bytes 100-5873/5874' (Content-Length 5774) to a "
                          "request for the whole file: nothing was kept" + where(file, tmp_path / "g.ogg"))
    assert not list(tmp_path.glob("g.ogg*"))


@pytest.mark.parametrize("content_range, checksum, part, requests", [
    (None, {}, SMALL, ["/f.ogg bytes=5874-", "/f.ogg"]),  # nothing says the partial file is whole: once more from 0
    ("bytes */9999", {}, SMALL, ["/f.ogg bytes=5874-", "/f.ogg"]),  # another length: once more from 0
    ("bytes */5874", {}, SMALL, ["/f.ogg bytes=5874-"]),  # the server's length says it is whole
    (None, {"md5": md5(SMALL)}, SMALL, ["/f.ogg bytes=5874-"]),  # its checksum says so
    ("bytes */5874", {"md5": md5(SMALL)}, SMALL[::-1], ["/f.ogg bytes=5874-", "/f.ogg"]),  # the length fits, not the checksum
])
def test_a_416_to_a_resume_accepts_the_partial_file_only_when_something_says_it_is_whole(
    tmp_path, content_range, checksum, part, requests
):
    def unsatisfiable(handler):
        if handler.headers.get("Range"):
            handler.respond("416 Range Not Satisfiable", [("Content-Length", 0)] + (
                [("Content-Range", content_range)] if content_range else []))
        else:
            whole(SMALL)(handler)

    (tmp_path / "f.ogg.part").write_bytes(part)
    with serve_script(unsatisfiable) as served:
        assert fetch(RemoteFile("f.ogg", f"{served.url}/f.ogg", **checksum), tmp_path / "f.ogg").read_bytes() == SMALL
    assert served.requests == requests


def test_a_body_without_a_length_is_refused_for_a_file_without_a_checksum(tmp_path):
    """1,500 of 5,874 bytes, then the connection closes: without a Content-Length (nor
    chunked framing) that cannot be told from the whole file."""
    with serve_script(lambda h: h.respond("200 OK", [("Content-Type", "audio/ogg")], SMALL[:1500])) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg", content_types=("audio/ogg",))
        error = fails(file, tmp_path / "f.ogg")
        assert str(error) == (f"{file.url} sent f.ogg with neither a Content-Length nor chunked framing, and it has no "
                              "published checksum: a body cut short could not be told from the whole file, nothing was "
                              "kept" + where(file, tmp_path / "f.ogg"))
        assert listing(tmp_path) == [".f.ogg.lock"]
        checked = RemoteFile("f.ogg", file.url, sha256=sha(SMALL[:1500]))  # a checksum tells
        assert fetch(checked, tmp_path / "f.ogg").read_bytes() == SMALL[:1500]


@pytest.mark.parametrize("values, shown", [(["-5"], "-5"), (["12abc"], "12abc"), (["0x10"], "0x10"),
                                           (["100", "5874"], "100 and 5874")])
def test_a_content_length_that_is_not_one_byte_count_is_refused(tmp_path, values, shown):
    (tmp_path / "f.ogg.part").write_bytes(SMALL[:100])
    with serve_script(lambda h: h.respond("200 OK", [("Content-Length", v) for v in values], SMALL)) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg", md5=md5(SMALL))
        error = fails(file, tmp_path / "f.ogg")
    assert str(error) == f"{file.url} answered with Content-Length {shown}, not one byte count: nothing was kept" + where(
        file, tmp_path / "f.ogg")
    assert listing(tmp_path) == [".f.ogg.lock"]


@pytest.mark.parametrize("header, value, shown", [("Content-Encoding", "gzip", "gzip, no transfer coding"),
                                                  ("Transfer-Encoding", "gzip, chunked", "identity, gzip, chunked")])
def test_an_encoded_body_is_refused(tmp_path, header, value, shown):
    import gzip

    body = gzip.compress(SMALL)
    with serve_script(lambda h: h.respond("200 OK", [(header, value), ("Content-Length", len(body))], body)) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg", md5=md5(SMALL))
        error = fails(file, tmp_path / "f.ogg")
    assert str(error) == (f"{file.url} sent f.ogg encoded ({shown}), although identity was asked for: its bytes are not "
                          "the file's, nothing was kept" + where(file, tmp_path / "f.ogg"))


def test_a_success_status_other_than_200_or_206_is_refused(tmp_path):
    with serve_script(lambda h: h.respond("204 No Content")) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        error = fails(file, tmp_path / "f.ogg")
    assert str(error).startswith(f"{file.url} answered 204 No Content, not 200 or 206: nothing was kept; ")
    assert error.status == 204


@pytest.mark.parametrize("raw, reason", [
    (b"", "could not download f.ogg from {url} (Remote end closed connection without response)"),
    (b"HTTP/1.1 20", "could not download f.ogg from {url} (HTTP/1.1 20)"),
    (b"HTTP/1.1 abc OK\r\n\r\n", "could not download f.ogg from {url} (HTTP/1.1 abc OK)"),  # its line end dropped
    (b"HTTP/1.1 200 OK\r\nContent-Len", "{url} sent f.ogg with neither a Content-Length nor chunked framing"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5874\r\nContent-Ty",
     "could not download f.ogg from {url} (the connection closed after 0 of 5874 bytes, kept to resume from)"),
])
def test_a_server_that_closes_or_garbles_its_header_is_one_line(tmp_path, raw, reason):
    with serve_script(lambda h: h.wfile.write(raw)) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        error = fails(file, tmp_path / "f.ogg")
    assert str(error).startswith(reason.format(url=file.url)) and str(error).endswith(where(file, tmp_path / "f.ogg"))
    assert not (tmp_path / "f.ogg").exists()


# --- nothing broken is marked verified: a caller's check of the content --------------------


def decodes(path):
    """A stand-in for an audio check: the file must start like SMALL."""
    if not path.read_bytes().startswith(SMALL[:16]):
        raise BenchError(f"cannot read audio file {path}")


def test_a_download_that_fails_its_check_is_deleted_and_never_recorded(tmp_path):
    broken = b"OggS" + bytes(5000)
    with serve_script(whole(broken)) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        with pytest.raises(ContentError) as caught:
            fetch(file, tmp_path / "f.ogg", check=decodes)
    part = tmp_path / "f.ogg.part"
    assert str(caught.value) == (f"download of f.ogg from {file.url} failed verification and was deleted: file {part} "
                                 f"fails its check (cannot read audio file {part})")
    assert caught.value.status == 200 and listing(tmp_path) == [".f.ogg.lock"]


def test_a_checked_download_is_recorded_as_checked_and_not_checked_again(tmp_path):
    seen = []
    with serve_script(whole(SMALL)) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        fetch(file, tmp_path / "f.ogg", check=lambda path: seen.append(path.name) or decodes(path))
        fetch(file, tmp_path / "f.ogg", check=lambda path: seen.append(path.name) or decodes(path))
    assert seen == ["f.ogg.part"] and served.requests == ["/f.ogg"]
    assert '"checked": true' in (tmp_path / "f.ogg.verified").read_text()


def test_a_file_in_place_that_fails_its_check_is_downloaded_again_not_blamed_on_the_source(tmp_path):
    """As an earlier version left a cut-short preview, recorded as verified without a check."""
    target = tmp_path / "f.ogg"
    target.write_bytes(b"OggS" + SMALL[4:1500])
    with serve_script(whole(SMALL)) as served:
        file = RemoteFile("f.ogg", f"{served.url}/f.ogg")
        verify(file, target)  # the old record: sha256 pinned, no check
        assert fetch(file, target, check=decodes).read_bytes() == SMALL
    assert served.requests == ["/f.ogg"]
    verify(file, target, check=decodes)  # pinned anew


@pytest.mark.parametrize("checks", [{"check": decodes}, {"md5": md5(SMALL)}])
def test_a_resume_that_fails_verification_is_downloaded_once_more_from_byte_0(root, tmp_path, checks):
    """The partial file came from another version of the file: the splice fails the check
    (or the checksum), and the file is fetched whole instead of being refused."""
    (root / "f.ogg").write_bytes(SMALL)
    (tmp_path / "f.ogg.part").write_bytes(b"an older version, 31 bytes long")
    check = {"check": checks.pop("check")} if "check" in checks else {}
    with serve(root) as url:
        assert fetch(RemoteFile("f.ogg", f"{url}/f.ogg", **checks), tmp_path / "f.ogg", **check).read_bytes() == SMALL
    assert RangeHandler.requests == ["/f.ogg bytes=31-", "/f.ogg"]


def test_a_record_that_is_not_a_json_object_vouches_for_nothing(tmp_path):
    path = tmp_path / "model.pth"
    path.write_bytes(PAYLOAD)
    path.with_name("model.pth.verified").write_text("[]")
    with pytest.raises(BenchError, match="fails its checksum"):
        verify(RemoteFile("model.pth", "https://example.invalid/model.pth", sha256=sha(b"other")), path)
    verify(RemoteFile("model.pth", "https://example.invalid/model.pth", sha256=sha(PAYLOAD)), path)
