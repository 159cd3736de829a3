"""Archive extraction never writes outside its target and never leaves a half-filled one."""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile

import py7zr
import pytest

from benchmark.archive import Member, check_members, extract
from benchmark.errors import BenchError


def test_7z_zip_and_tar_extract_their_files(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    with py7zr.SevenZipFile(tmp_path / "x.7z", "w") as z:
        z.write(tmp_path / "a.txt", "split/a.txt")
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        z.write(tmp_path / "a.txt", "split/a.txt")
    for name, mode in (("x.tar.gz", "w:gz"), ("x.tgz", "w:gz"), ("x.tar", "w")):
        with tarfile.open(tmp_path / name, mode) as t:
            t.add(tmp_path / "a.txt", "split/a.txt")
    for name in ("x.7z", "x.zip", "x.tar.gz", "x.tgz", "x.tar"):
        target = extract(tmp_path / name, tmp_path / "data" / name / "audio")  # its parents are created too
        assert target == tmp_path / "data" / name / "audio" and (target / "split" / "a.txt").read_text() == "hello"
    assert not list(tmp_path.rglob(".*extracting"))


def test_a_staging_directory_left_by_a_killed_extraction_is_not_mixed_into_the_next(tmp_path):
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        z.writestr("split/a.txt", "hello")
    (tmp_path / ".out.extracting" / "split").mkdir(parents=True)
    (tmp_path / ".out.extracting" / "split" / "half.txt").write_text("from the killed run")
    target = extract(tmp_path / "x.zip", tmp_path / "out")
    assert sorted(p.name for p in target.rglob("*")) == ["a.txt", "split"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "x.zip"]


@pytest.mark.parametrize(
    "member",
    [
        "../escaped.txt",
        "/etc/escaped.txt",
        "split/../../escaped.txt",
        "C:/escaped.txt",
        "..\\escaped.txt",
        "split\\..\\..\\escaped.txt",
    ],
)
def test_members_leaving_the_target_are_refused_before_anything_is_written(tmp_path, member):
    """Windows-style separators count as separators: such an archive escapes where they do."""
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        z.writestr("split/fine.txt", "ok")
        z.writestr(member, "gotcha")
    refusal = f"evil.zip holds member {member!r}, whose path leaves the target directory"
    with pytest.raises(BenchError, match=re.escape(refusal)):
        extract(tmp_path / "evil.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.rglob("escaped.txt"))


def test_links_are_refused(tmp_path):
    with tarfile.open(tmp_path / "link.tar", "w") as t:
        info = tarfile.TarInfo("split/passwd")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(info)
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as z:
        info = zipfile.ZipInfo("split/passwd")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    for name in ("link.tar", "link.zip"):
        with pytest.raises(BenchError, match="holds member 'split/passwd', which is a link or special file"):
            extract(tmp_path / name, tmp_path / "out")
        assert not (tmp_path / "out").exists()
    check_members(tmp_path / "plain.zip", [Member("split", is_dir=True), Member("split/a.wav")])  # plain members pass


def test_a_truncated_archive_is_a_clear_error(tmp_path):
    (tmp_path / "a.bin").write_bytes(bytes(range(256)) * 400)
    with py7zr.SevenZipFile(tmp_path / "x.7z", "w") as z:
        z.write(tmp_path / "a.bin", "split/a.bin")
    data = (tmp_path / "x.7z").read_bytes()
    (tmp_path / "x.7z").write_bytes(data[: len(data) // 2])
    with pytest.raises(BenchError, match=r"x.7z .*truncated or corrupt: delete it and download it again"):
        extract(tmp_path / "x.7z", tmp_path / "out")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".*extracting"))
    (tmp_path / "y.zip").write_bytes(b"not an archive")
    with pytest.raises(BenchError, match="y.zip .*truncated or corrupt"):
        extract(tmp_path / "y.zip", tmp_path / "out")
