"""Safe archive extraction (7z, zip, tar): every member is checked before anything is written.

A member whose path is absolute, climbs out with ``..``, or is a link or device is
refused with an error naming the archive and the member, so a crafted or corrupted
archive can never write outside its target directory. Extraction goes to a staging
directory beside the target, which is renamed into place only when it is complete: an
interrupted extraction leaves no half-filled target behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from benchmark.errors import BenchError


@dataclass(frozen=True)
class Member:
    """What an archive says about one entry, before extraction."""

    name: str
    is_dir: bool = False
    is_link: bool = False  # symbolic or hard link, device, fifo: anything but a file or directory


def _members(archive: Path) -> list[Member]:
    name = archive.name.lower()
    if name.endswith(".7z"):
        import py7zr

        with py7zr.SevenZipFile(archive) as z:
            return [Member(i.filename, i.is_directory, bool(i.is_symlink)) for i in z.list()]
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            return [
                Member(i.filename, i.is_dir(), stat.S_ISLNK(i.external_attr >> 16))
                for i in z.infolist()
            ]
    if ".tar" in name or name.endswith(".tgz"):
        with tarfile.open(archive) as t:
            return [Member(m.name, m.isdir(), not (m.isfile() or m.isdir())) for m in t.getmembers()]
    raise BenchError(f"{archive}: unknown archive type (expected .7z, .zip or .tar*)")


def check_members(archive: Path, members: list[Member]) -> None:
    """Raise on the first member that could land outside the target directory."""
    for member in members:
        path = PurePosixPath(member.name.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and path.parts[0].endswith(":")):
            raise BenchError(
                f"archive {archive} holds member {member.name!r}, whose path leaves the target directory; "
                "refusing to extract it (the archive is corrupt or was tampered with: delete it and download it again)"
            )
        if member.is_link:
            raise BenchError(
                f"archive {archive} holds member {member.name!r}, which is a link or special file; "
                "dataset archives hold plain files only, refusing to extract"
            )


def extract(archive: Path, target: Path) -> Path:
    """Extract ``archive`` into the directory ``target`` (created; must not exist yet)."""
    try:
        members = _members(archive)
    except BenchError:  # an unknown archive type
        raise
    except Exception as exc:  # each library has its own corrupt-archive errors
        raise BenchError(f"cannot read archive {archive} ({exc}); it is truncated or corrupt: delete it and download it again") from None
    check_members(archive, members)
    staging = target.with_name(f".{target.name}.extracting")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        name = archive.name.lower()
        if name.endswith(".7z"):
            import py7zr

            with py7zr.SevenZipFile(archive) as z:
                z.extractall(staging)
        elif name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(staging)
        else:
            with tarfile.open(archive) as t:
                t.extractall(staging, filter="data")
    except Exception as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BenchError(f"extracting {archive} failed ({exc}); it is truncated or corrupt: delete it and download it again") from None
    os.replace(staging, target)
    return target
