import errno
import json
import os
import stat

import pytest

from benchmark import io
from benchmark.errors import BenchError
from tests.benchmark.faults import file_size_limit


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_written_atomically_get_the_permissions_the_umask_allows(tmp_path, monkeypatch, umask):
    monkeypatch.setattr(io, "_umask", lambda: umask)
    io.write_json(tmp_path / "result.json", {"a": 1})
    with io.atomic_path(tmp_path / "frames.npy") as tmp:
        tmp.write_bytes(b"x")
    for name in ("result.json", "frames.npy"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~umask


def test_the_umask_is_read_without_changing_it():
    io._umask.cache_clear()
    before = os.umask(0o027)
    try:
        assert io._umask() == 0o027 and os.umask(0o027) == 0o027
    finally:
        os.umask(before)
        io._umask.cache_clear()


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    io.write_text(tmp_path / "a.txt", "old")
    with pytest.raises(RuntimeError):
        with io.atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert (tmp_path / "a.txt").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def _write_text(path):
    path.write_text("x" * 100_000)


def _write_npy(path):
    import numpy as np

    np.save(path, np.zeros(100_000, dtype=np.float32))


def _write_npz(path):
    import numpy as np

    np.savez(path, frames=np.zeros(100_000, dtype=np.float32))


def _write_checkpoint(path):
    import torch

    torch.save({"weights": torch.zeros(100_000)}, path)


def _write_wav(path):
    import numpy as np
    import soundfile

    soundfile.write(str(path), np.zeros(100_000, dtype=np.float32), 16000, subtype="PCM_16", format="WAV")


@pytest.mark.parametrize(
    "name, write",
    [("a.txt", _write_text), ("a.npy", _write_npy), ("a.npz", _write_npz), ("a.pt", _write_checkpoint), ("a.wav", _write_wav)],
)
def test_a_write_the_filesystem_refuses_is_one_line_naming_the_file_and_leaves_no_temporary(tmp_path, name, write):
    """numpy, torch and soundfile lose the errno (torch: 'enforce fail at inline_container.cc'),
    yet the error still names the file and the filesystem's reason."""
    write(tmp_path / name)  # the library is imported before the limit
    io.write_text(tmp_path / name, "old")
    with pytest.raises(BenchError) as caught, file_size_limit(4096):
        with io.atomic_path(tmp_path / name) as tmp:
            write(tmp)
    message = str(caught.value)
    assert f"cannot write {tmp_path / name}: File too large" in message and "\n" not in message
    assert (tmp_path / name).read_text() == "old" and [p.name for p in tmp_path.iterdir()] == [name]


def test_a_disk_that_fills_up_at_fsync_says_so_and_what_to_do(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(BenchError, match=r"cannot write .*result\.json: No space left on device; .*free space"):
        io.write_json(tmp_path / "result.json", {"a": 1})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_a_directory_that_cannot_be_written_is_named_with_what_to_do(tmp_path, monkeypatch, code):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / "out"))

    monkeypatch.setattr(io.tempfile, "mkstemp", refuse)
    with pytest.raises(BenchError, match=rf"cannot write {tmp_path / 'out' / 'a.json'}: .*make {tmp_path / 'out'} writable"):
        io.write_json(tmp_path / "out" / "a.json", {})


def test_a_parent_that_is_a_file_is_named(tmp_path):
    (tmp_path / "out").write_text("")
    with pytest.raises(BenchError, match=rf"cannot write {tmp_path / 'out' / 'sub' / 'a.json'}: .*{tmp_path / 'out'}"):
        io.write_json(tmp_path / "out" / "sub" / "a.json", {})


def test_a_lock_whose_record_cannot_be_written_is_not_left_behind(tmp_path):
    """An empty lock would read as a live holder forever, so a retry would wait for ever."""
    lock = tmp_path / "pack.lock"
    with pytest.raises(BenchError, match=rf"cannot write {lock}: "), file_size_limit(0):
        io.create_exclusive(lock)
    assert not lock.exists()
    assert io.create_exclusive(lock) and json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_text_file_is_read_without_its_byte_order_mark_and_bad_bytes_are_one_line_naming_it(tmp_path):
    path = tmp_path / "captions.csv"
    path.write_bytes("\ufefffile_name,caption_1\n".encode("utf-8"))
    assert io.read_text(path) == "file_name,caption_1\n"
    path.write_bytes(b"file_name\nchien \xe9\n")
    with pytest.raises(BenchError, match=r"^metadata captions\.csv: not valid UTF-8 \(invalid continuation byte at byte 16\)$"):
        io.read_text(path, "metadata captions.csv")


def test_json_lines_are_numbered_as_in_the_file_skipping_blank_ones_and_keeping_raw_line_separators(tmp_path):
    path = tmp_path / "metadata.jsonl"
    path.write_text('{"a": 1}\n\n  \n{"caption": "rain\u2028thunder"}\r\n', encoding="utf-8")
    assert list(io.read_json_lines(path)) == [(1, {"a": 1}), (4, {"caption": "rain\u2028thunder"})]


@pytest.mark.parametrize("line, problem", [
    ("{'a': 1}", "line 2: not JSON (Expecting property name"),
    ("[1, 2]", "line 2: expected a JSON object, found list"),
    ('{"a": ', "line 2: not JSON (Expecting value"),
])
def test_a_json_line_that_is_no_object_is_one_line_naming_the_file_and_line(tmp_path, line, problem):
    path = tmp_path / "manifest.jsonl"
    path.write_text('{"a": 1}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(BenchError) as error:
        list(io.read_json_lines(path, f"manifest {path}"))
    assert str(error.value).startswith(f"manifest {path}, {problem}") and "\n" not in str(error.value)
