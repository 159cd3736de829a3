"""Downloads against a local HTTP server: verified by checksum, resumed, moved into place
atomically, never tried offline, a failed try keeps what came for the next one, and
processes fetching one file at once download it once."""

from __future__ import annotations

import hashlib
import http.server
import subprocess
import sys
import threading
import time

import pytest

from benchmark import download
from benchmark.download import DownloadError, RemoteFile, fetch, file_sha256, verify
from benchmark.errors import BenchError
from tests.httpserver import RangeHandler, serve

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


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
    trickle.hold_after = 1_200_000  # the first client gets its first 1 MiB block written, then hangs
    first = processes(FETCH_ARCHIVE, f"{server}/big.7z", md5(big), target)
    deadline = time.monotonic() + 20
    while not (part.exists() and part.stat().st_size == 1 << 20):
        assert time.monotonic() < deadline and first.poll() is None, "the first download never wrote its first block"
        time.sleep(0.02)
    second = processes(FETCH_ARCHIVE, f"{server}/big.7z", md5(big), target)
    assert second.stderr.readline() == f"waiting for another process's download of big.7z into {target.parent}\n"
    first.kill()
    out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert out == f"{target}\n" and target.read_bytes() == big and not part.exists()
    assert RangeHandler.requests == ["/big.7z", f"/big.7z bytes={1 << 20}-"]


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
