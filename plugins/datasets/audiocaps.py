"""AudioCaps (Kim et al., 2019): the official captions CSVs and audio the user provides.

AudioCaps clips are 10 s excerpts of YouTube videos; there is no official audio archive,
and a share of the videos has since disappeared. The captions CSVs (``audiocap_id,
youtube_id,start_time,caption``, one row per caption) are downloaded from the official
repository; the audio is looked up in ``audio_dir`` (default ``<data dir>/audio``, searched
recursively) under ``file_pattern`` with any common audio extension. Clips whose audio is
absent are counted, reported and skipped; a split with more than ``max_missing`` of its
clips absent refuses to load, since its scores would not be comparable.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from benchmark.api import BenchError, Dataset, RemoteFile, Split, fetch, mirror_url, read_text, unknown_name, write_text

REPOSITORY = "https://raw.githubusercontent.com/cdjkim/audiocaps/master/dataset/{name}"
SPLITS = ("train", "val", "test")
COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".m4a")


def read_audiocaps_csv(path: Path) -> list[tuple[str, str, list[str]]]:
    """``(youtube_id, start_time, captions)`` per clip, in first-appearance order; rows of the
    same clip are grouped. Missing columns, empty captions, duplicate caption ids and
    non-UTF-8 bytes are errors naming the file and line."""
    rows = list(csv.reader(io.StringIO(read_text(path), newline="")))
    header = [h.strip() for h in rows[0]] if rows else []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise BenchError(f"{path}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    at = {c: header.index(c) for c in COLUMNS}
    clips: dict[tuple[str, str], list[str]] = {}
    seen: set[str] = set()
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise BenchError(f"{path}, line {line}: {len(row)} columns, expected {len(header)}")
        cap_id, caption = row[at["audiocap_id"]].strip(), row[at["caption"]].strip()
        if cap_id in seen:
            raise BenchError(f"{path}, line {line}: duplicate audiocap_id {cap_id}")
        seen.add(cap_id)
        if not caption:
            raise BenchError(f"{path}, line {line}: empty caption (audiocap_id {cap_id})")
        clip = (row[at["youtube_id"]].strip(), row[at["start_time"]].strip())
        clips.setdefault(clip, []).append(caption)
    return [(youtube_id, start, captions) for (youtube_id, start), captions in clips.items()]


class AudioCaps(Dataset):
    protocol = {"train": "train", "validation": "val", "test": "test"}

    def __init__(
        self,
        audio_dir: str | None = None,
        file_pattern: str = "{youtube_id}_{start_time}",
        max_missing: float = 0.2,
    ) -> None:
        if "{youtube_id}" not in file_pattern:
            raise BenchError(f"file_pattern {file_pattern!r} must contain {{youtube_id}}")
        if not 0.0 <= float(max_missing) <= 1.0:
            raise BenchError(f"max_missing must be a share between 0 and 1, got {max_missing}")
        self.audio_dir = audio_dir
        self.file_pattern = file_pattern
        self.max_missing = float(max_missing)
        self._index: dict[str, Path] | None = None
        self._root: Path | None = None  # the audio directory, once found
        self._counts: dict[str, tuple[int, int]] = {}  # split -> (clips with audio, clips listed)

    def options(self) -> dict[str, Any]:
        return {"audio_dir": self.audio_dir, "file_pattern": self.file_pattern}

    def storage_options(self) -> dict[str, Any]:
        return {"audio_dir": self.audio_dir}  # another audio directory may hold other files under the same names

    def source(self) -> dict[str, Any]:
        """The audio directory, and that its files cannot be verified: AudioCaps publishes no
        audio, so no checksums; how many listed clips had no audio, per split."""
        source: dict[str, Any] = {
            "audio_dir": str(self._root.resolve()) if self._root else self.audio_dir,
            "audio_checksums": "none published (the audio comes from YouTube)",
        }
        if self._counts:
            source["clips_without_audio"] = {split: total - found for split, (found, total) in sorted(self._counts.items())}
        return source

    def _audio_root(self, data_dir: Path) -> Path:
        root = Path(self.audio_dir).expanduser() if self.audio_dir else data_dir / "audio"
        if not root.is_dir():
            raise BenchError(
                f"audio directory {root} does not exist. AudioCaps audio comes from "
                f"YouTube (no official archive): put the clips there as {self.file_pattern}.wav (or .flac…), "
                "or pass -D audio_dir=DIR"
            )
        self._root = root
        return root

    def _audio_index(self, data_dir: Path) -> dict[str, Path]:
        """File stem → path for every audio file under the audio directory (one walk)."""
        if self._index is None:
            index: dict[str, Path] = {}
            for folder, _, files in os.walk(self._audio_root(data_dir)):
                for name in files:
                    stem, ext = os.path.splitext(name)
                    if ext.lower() in EXTENSIONS:
                        index.setdefault(stem, Path(folder) / name)
            self._index = index
        return self._index

    def prepare(self, data_dir: Path) -> None:
        """Fetch the three captions CSVs (their sha256 is pinned at first download: the
        repository publishes none) and check the audio directory."""
        for split in SPLITS:
            name = f"{split}.csv"
            fetch(
                RemoteFile(name, REPOSITORY.format(name=name)),
                data_dir / name,
                url=mirror_url("BENCH_DATA_MIRROR", f"audiocaps/{name}"),
            )
        self._audio_root(data_dir)

    def load_split(self, data_dir: Path, split: str) -> Split:
        if split not in SPLITS:
            raise unknown_name("AudioCaps split", split, SPLITS)
        clips = read_audiocaps_csv(data_dir / f"{split}.csv")
        index = self._audio_index(data_dir)
        paths, captions, missing = [], [], []
        for youtube_id, start, clip_captions in clips:
            stem = self.file_pattern.format(youtube_id=youtube_id, start_time=start)
            if stem in index:
                paths.append(index[stem])
                captions.append(tuple(clip_captions))
            else:
                missing.append(stem)
        write_text(data_dir / f"missing-{split}.txt", "".join(f"{stem}\n" for stem in missing))
        share = len(missing) / max(len(clips), 1)
        if share > self.max_missing or not paths:
            raise BenchError(
                f"{len(missing)} of {len(clips)} {split} clips ({share:.1%}) have no audio in "
                f"{self._audio_root(data_dir)} (more than max_missing={self.max_missing:.0%}); the list is in "
                f"{data_dir / f'missing-{split}.txt'}. Fetch them, or raise -D max_missing=SHARE"
            )
        self._counts[split] = (len(paths), len(clips))
        return Split(split, tuple(paths), tuple(captions))

    def report(self, data_dir: Path) -> list[str]:
        lines = []
        for split in SPLITS:
            if split not in self._counts:  # counted when the split was listed
                self.load_split(data_dir, split)
            found, total = self._counts[split]
            lines.append(
                f"{split}: {found} of {total} clips have audio; {total - found} missing ({(total - found) / total:.1%}) "
                f"are skipped (listed in {data_dir / f'missing-{split}.txt'})"
            )
        return lines
