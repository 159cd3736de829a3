"""Hugging Face AudioFolder directories, read directly (for the ``hf`` dataset).

An AudioFolder directory holds audio files and a ``metadata.csv`` or ``metadata.jsonl``
whose ``file_name`` column names each file relative to the metadata file, at the root or
in a split folder (``train/metadata.csv``, ``test/metadata.jsonl``). ``datasets`` 5 can
only load such a directory by re-encoding the audio through torchcodec; bench needs
neither: it reads the metadata itself and the audio files where they are.

The split of a row is, as Hugging Face infers it from the layout: the folder its metadata
file is in; for a metadata file at the root, the first component of ``file_name`` when
that is a folder (``test/rain.wav``), else ``train``. Folder names are taken as they are
(Hugging Face also maps ``dev``/``val``/``eval`` folders to its split names; here
``-D validation=dev`` says so).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Any, Iterator, Sequence

from benchmark.api import BenchError, Listed, find_audio, read_json_lines, read_text, unknown_name

METADATA = ("metadata.csv", "metadata.jsonl")


def metadata_files(root: Path) -> list[tuple[Path, str | None]]:
    """The metadata files of an AudioFolder directory, with the split a split folder's
    file gives its rows (None at the root); empty if ``root`` is not an AudioFolder."""
    found: list[tuple[Path, str | None]] = [(root / m, None) for m in METADATA if (root / m).is_file()]
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found += [(folder / m, folder.name) for m in METADATA if (folder / m).is_file()]
    return found


def _records(metadata: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, row)`` for every non-blank row of a metadata file."""
    if metadata.suffix == ".jsonl":
        yield from read_json_lines(metadata)
        return
    reader = csv.reader(io.StringIO(read_text(metadata), newline=""))
    header = [h.strip() for h in next(reader, [])]
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise BenchError(f"{metadata}, line {reader.line_num}: {len(row)} columns, expected {len(header)} ({','.join(header)})")
        yield reader.line_num, dict(zip(header, row))  # the row's (last) line


def _captions(record: dict[str, Any], columns: Sequence[str], where: str, metadata: Path) -> tuple[str, ...]:
    """Every caption of a row, in column order. A column holds a string or a list of
    strings; trailing empty captions are dropped (clips may have fewer), other empty ones
    are errors."""
    texts: list[tuple[str, str]] = []
    for column in columns:
        if column not in record:
            raise unknown_name(f"column of {metadata}", column, list(record), hint=f"({where}; choose with -D caption_columns=…)")
        value = record[column]
        for text in value if isinstance(value, list) else [value]:
            texts.append((column, "" if text is None else str(text).strip()))
    while len(texts) > 1 and not texts[-1][1]:
        texts.pop()
    for column, text in texts:
        if not text:
            raise BenchError(f"{where}: empty caption in column {column!r} for {record.get('file_name')!r}")
    return tuple(text for _, text in texts)


def read_audiofolder(root: Path, caption_columns: Sequence[str]) -> dict[str, list[Listed]]:
    """Split name → the clips its metadata lists, audio looked up in place. Empty file
    names, names that leave their directory, duplicate files within a split, missing
    columns and empty captions are errors naming the metadata file and line."""
    splits: dict[str, list[Listed]] = defaultdict(list)
    first_seen: dict[tuple[str, Path], str] = {}
    for metadata, folder_split in metadata_files(root):
        base = metadata.parent
        rows = 0
        for line, record in _records(metadata):
            where = f"{metadata}, line {line}"
            name = record.get("file_name")
            if "file_name" not in record:
                raise BenchError(f"{metadata}: expected a file_name column naming each audio file; found {','.join(record)}")
            if not isinstance(name, str) or not name.strip():
                raise BenchError(f"{where}: empty file_name")
            rows += 1
            audio = find_audio(base, name, where)  # refuses absolute names and '..'
            expected = base / name.strip()
            split = folder_split
            if split is None:
                parts = PurePosixPath(name.strip()).parts
                split = parts[0] if len(parts) > 1 and (root / parts[0]).is_dir() else "train"
            key = (split, Path(*PurePosixPath(name.strip()).parts) if base == root else Path(base.name, name.strip()))
            if key in first_seen:
                raise BenchError(f"{where}: duplicate file name {name.strip()!r} in split {split!r} (first listed at {first_seen[key]})")
            first_seen[key] = where
            splits[split].append(Listed(where, name, audio, expected, _captions(record, caption_columns, where, metadata)))
        if not rows:
            raise BenchError(f"{metadata}: no clips listed")
    return dict(splits)
