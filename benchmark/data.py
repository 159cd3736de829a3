"""Splits in Clotho's on-disk layout: ``<split>/`` audio files plus ``clotho_captions_<split>.csv``.

Every dataset that ships (or is generated) in this layout goes through the same reader,
so the embedded synthetic set exercises the code path Clotho uses.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from benchmark.api import Dataset
from benchmark.errors import BenchError
from benchmark.io import atomic_path


@dataclass(frozen=True)
class Split:
    """One split: clip ``i`` is ``audio_paths[i]``, described by ``captions[i]``."""

    name: str
    audio_paths: tuple[Path, ...]
    captions: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if len(self.audio_paths) != len(self.captions):
            raise ValueError("audio_paths and captions must have the same length")

    def __len__(self) -> int:
        return len(self.audio_paths)

    @property
    def file_names(self) -> list[str]:
        return [path.name for path in self.audio_paths]

    @property
    def captions_per_clip(self) -> int:
        """The smallest number of captions any clip has (batches use this many per clip)."""
        return min((len(c) for c in self.captions), default=0)

    def subset(self, name: str, indices: Sequence[int]) -> "Split":
        """The clips at ``indices``, in that order, as a split called ``name``."""
        return Split(name, tuple(self.audio_paths[i] for i in indices), tuple(self.captions[i] for i in indices))

    @classmethod
    def union(cls, parts: Sequence["Split"]) -> "Split":
        """Several splits read as one, named ``a+b``."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            "+".join(p.name for p in parts),
            tuple(a for p in parts for a in p.audio_paths),
            tuple(c for p in parts for c in p.captions),
        )


def captions_csv(data_dir: Path, split: str) -> Path:
    return data_dir / f"clotho_captions_{split}.csv"


def read_captions_csv(path: Path, audio_dir: Path, split: str, ragged: bool = False) -> Split:
    """Read a Clotho captions CSV (``file_name,caption_1,…,caption_N``) and check every row.

    Empty captions, duplicate file names, missing columns and listed-but-absent audio files
    are errors that name the file and row: a silently smaller dataset would make
    numbers incomparable. With ``ragged``, clips may leave trailing caption cells empty
    (datasets whose clips have different numbers of captions) but need at least one.
    """
    if not path.is_file():
        raise BenchError(f"captions file {path} not found; run `bench prepare` for this dataset")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except UnicodeDecodeError as exc:
        raise BenchError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if not rows:
        raise BenchError(f"{path}: empty captions file")
    header = [h.strip() for h in rows[0]]
    caption_columns = [i for i, h in enumerate(header) if h.startswith("caption_")]
    if "file_name" not in header or not caption_columns:
        raise BenchError(f"{path}: expected columns file_name,caption_1,…; found {','.join(header)}")
    name_column = header.index("file_name")
    seen: set[str] = set()
    paths: list[Path] = []
    captions: list[tuple[str, ...]] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise BenchError(f"{path}, line {line}: {len(row)} columns, expected {len(header)}")
        name = row[name_column].strip()
        if name in seen:
            raise BenchError(f"{path}, line {line}: duplicate file name {name!r}")
        seen.add(name)
        clip_captions = tuple(row[i].strip() for i in caption_columns)
        if ragged:
            while len(clip_captions) > 1 and not clip_captions[-1]:
                clip_captions = clip_captions[:-1]
        for column, caption in zip(caption_columns, clip_captions):
            if not caption:
                raise BenchError(f"{path}, line {line}: empty {header[column]} for {name!r}")
        audio = audio_dir / name
        if not audio.is_file():
            raise BenchError(f"{path}, line {line}: audio file {audio} is listed but absent")
        paths.append(audio)
        captions.append(clip_captions)
    if not paths:
        raise BenchError(f"{path}: no clips listed")
    return Split(split, tuple(paths), tuple(captions))


def write_captions_csv(path: Path, file_names: Sequence[str], captions: Sequence[Sequence[str]]) -> None:
    """Write a Clotho captions CSV atomically (rows with fewer captions are padded with
    empty cells, read back with ``ragged=True``)."""
    width = max(len(c) for c in captions)
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", *[f"caption_{k + 1}" for k in range(width)]])
        for name, clip_captions in zip(file_names, captions):
            writer.writerow([name, *clip_captions, *[""] * (width - len(clip_captions))])


class ClothoLayoutDataset(Dataset):
    """A dataset stored as Clotho is: subclasses only say how to ``prepare`` the files."""

    #: Whether clips may have fewer captions than the CSV has caption columns.
    ragged_captions = False

    def load_split(self, data_dir: Path, split: str) -> Split:
        return read_captions_csv(captions_csv(data_dir, split), data_dir / split, split, self.ragged_captions)


@dataclass
class PreparedDataset:
    """A dataset plugin bound to its options and its directory on disk.

    ``key`` names the dataset in results: the plugin name, then the protocol's name when it
    is not the default one, then a hash of any other non-default options.
    ``storage_key`` names the data directory and the feature caches: it changes only with
    the options that change the files, so protocols share downloads and features.
    """

    name: str
    key: str
    storage_key: str
    plugin: Dataset
    data_dir: Path

    def parts(self, role: str) -> list[Split]:
        """The splits that together play ``role`` (train, validation, test)."""
        return [self.plugin.load_split(self.data_dir, name) for name in self.plugin.protocol[role].split("+")]

    def split(self, role: str) -> Split:
        """The split playing ``role`` in the dataset's protocol (a union where it names several)."""
        return Split.union(self.parts(role))


def _suffix(options: dict[str, Any], defaults: dict[str, Any]) -> str:
    from benchmark.io import stable_hash

    return "" if options == defaults else f"-{stable_hash(options, 8)}"


def open_dataset(manager: Any, name: str, options: dict[str, Any], data_root: Path) -> PreparedDataset:
    """Instantiate dataset plugin ``name`` with ``options`` and locate its data directory."""
    from benchmark.registry import instantiate

    factory = manager.load("datasets", name)
    plugin = instantiate(factory, options, f"dataset {name!r}", "--dataset-option")
    default = instantiate(factory, {}, f"dataset {name!r}", "--dataset-option")
    storage_key = name + _suffix(plugin.storage_options(), default.storage_options())
    key = name
    if plugin.protocol_name != default.protocol_name:
        key += f"-{plugin.protocol_name}"
    others, default_others = ({k: v for k, v in p.options().items() if k != "protocol"} for p in (plugin, default))
    key += _suffix(others, default_others)
    return PreparedDataset(name, key, storage_key, plugin, data_root / storage_key)
