import os
import stat

import pytest

from benchmark import io


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
