"""Your own audio and captions, in a local folder laid out as Clotho is.

``path`` holds one audio folder per split and its captions file::

    DIR/development/…            audio files (any format libsndfile reads)
    DIR/clotho_captions_development.csv
    DIR/validation/…
    DIR/clotho_captions_validation.csv
    …

A captions file is ``file_name,caption_1,…,caption_N`` (UTF-8) with any number of caption
columns; a clip may leave trailing caption cells empty but needs at least one. The files
are read where they are, never copied; the data directory only keeps what the checks
found. The default protocol trains on ``development``, validates on ``validation`` and
tests on ``evaluation``; ``-D train=… validation=… test=…`` name other split folders
(``a+b`` for a union). Each folder gets its own result key, and so does each version of
its content: ``folder-<hash of the options, path included>-data-<fingerprint>``, the
fingerprint being of the audio files' bytes and the captions of the protocol's splits.
An edited file or caption thus gives new features and new results, never the old ones;
digests are kept by size and mtime, so an unchanged folder costs a stat per file.

Preparation checks every split of the protocol before anything is extracted: a captions
file whose split folder has none, a missing column, an empty caption, a duplicate file
name, a listed file that is absent, and one that does not decode are one-line errors that
name the file (and line). Absent files may instead be counted and skipped with
``-D max_missing=SHARE`` (default 0). A clip longer than ``-D max_seconds`` (default 60:
twice Clotho's longest) is refused, naming it, unless ``-D long_clips=crop``: then the
first ``max_seconds`` of it are used, and the results record how many were cut.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from benchmark.api import (MAX_SECONDS, BenchError, ClipLimit, ClothoLayoutDataset, Listing, Split, captions_csv,
                           check_audio, clips_fingerprint, list_split, stable_hash, unknown_name, write_text)


class Folder(ClothoLayoutDataset):
    ragged_captions = True

    def __init__(
        self,
        path: str = "",
        train: str = "development",
        validation: str = "validation",
        test: str = "evaluation",
        max_missing: float = 0.0,
        max_seconds: float = MAX_SECONDS,
        long_clips: str = "refuse",
    ) -> None:
        self.limit = ClipLimit.from_options(max_seconds, long_clips)
        # Resolved, so one folder named two ways is one dataset and the result records where it is.
        self.path = str(Path(str(path)).expanduser().resolve()) if str(path) else ""
        if not 0.0 <= float(max_missing) < 1.0:
            raise BenchError(f"max_missing must be a share from 0 up to 1, got {max_missing}")
        self.max_missing = float(max_missing)
        self.protocol = {"train": str(train), "validation": str(validation), "test": str(test)}
        self._counts: dict[str, tuple[int, int]] = {}  # split -> (absent files skipped, clips listed)
        self._fingerprints: dict[str, str] = {}  # split -> its clips' content
        self._cropped: dict[str, tuple[int, int]] = {}  # split -> (clips longer than max_seconds, clips)

    def options(self) -> dict[str, Any]:
        return {"path": self.path, **self.protocol, "max_missing": self.max_missing, **self.limit.options()}

    def storage_options(self) -> dict[str, Any]:
        return {"path": self.path}  # the data directory keeps the checks' records for this folder

    def source(self) -> dict[str, Any]:
        source: dict[str, Any] = {"path": self.path, "read_in_place": True, "checksums_verified": False,
                                  "checked": "every listed file present and decodable"}
        if any(missing for missing, _ in self._counts.values()):
            source["missing_skipped"] = {split: missing for split, (missing, _) in sorted(self._counts.items())}
        if any(n for n, _ in self._cropped.values()):
            source["cropped"] = {split: n for split, (n, _) in sorted(self._cropped.items())}
        if self._fingerprints:
            source["fingerprint"] = self._content()
        return source

    # -- layout --------------------------------------------------------------------------
    def _root(self) -> Path:
        if not self.path:
            raise BenchError("needs -D path=DIR (split folders plus clotho_captions_<split>.csv files)")
        root = Path(self.path)
        if not root.is_dir():
            raise BenchError(f"{root} is not a directory")
        return root

    def splits(self) -> list[str]:
        """The splits the folder has: one per ``clotho_captions_<split>.csv``."""
        return sorted(p.name[len("clotho_captions_") : -4] for p in self._root().glob("clotho_captions_*.csv"))

    def _used(self) -> list[str]:
        return sorted({name for names in self.protocol.values() for name in names.split("+")})

    def audio_folder(self, data_dir: Path, split: str) -> Path:
        return self._root() / split

    def _listing(self, data_dir: Path, split: str) -> Listing:
        root = self._root()
        captions = captions_csv(root, split)
        if not captions.is_file():
            if (root / split).is_dir():
                raise BenchError(f"split folder {root / split} has no captions file {captions}")
            raise unknown_name(f"split of folder {root}", split, self.splits(),
                               hint="A split is a folder plus clotho_captions_<split>.csv; choose splits with -D train=/validation=/test=.")
        if not (root / split).is_dir():
            raise BenchError(f"{captions} lists the clips of split {split!r}, but its audio folder {root / split} does not exist")
        listing = list_split(captions, root / split, split, ragged=True, max_missing=self.max_missing,
                             hint="; -D max_missing=SHARE skips absent files")
        write_text(data_dir / f"missing-{split}.txt", "".join(f"{name}\n" for name in listing.missing))
        self._counts[split] = (len(listing.missing), listing.listed)
        return listing

    def _checked(self, data_dir: Path, split: str) -> Split:
        """The split, its files checked (present, decoding) and its content fingerprinted;
        what was found is remembered by size and mtime, so a re-run only stats the files."""
        listing = self._listing(data_dir, split)
        facts = check_audio(listing.where(), data_dir / f".decodes-{split}.json", digest=True, limit=self.limit)
        self._fingerprints[split] = clips_fingerprint(facts, listing.split.captions)
        self._cropped[split] = (len(self.limit.longer(facts)), len(facts))
        return dataclasses.replace(listing.split, fingerprint=self._fingerprints[split], crop_seconds=self.limit.crop_seconds)

    # -- dataset contract ----------------------------------------------------------------
    def fingerprint(self, data_dir: Path) -> str:
        """The content of the protocol's splits: audio bytes and captions (each split checked)."""
        for split in self._used():
            self._checked(data_dir, split)
        return self._content()

    def _content(self) -> str:
        return stable_hash({split: self._fingerprints.get(split) for split in self._used()}, 16)

    def prepare(self, data_dir: Path) -> None:
        """Check every split of the protocol (captions, files present, files decode, clips
        no longer than max_seconds)."""
        self.fingerprint(data_dir)

    def load_split(self, data_dir: Path, split: str) -> Split:
        return self._checked(data_dir, split)

    def report(self, data_dir: Path) -> list[str]:
        lines = []
        for split in self._used():
            if split not in self._cropped:
                self._checked(data_dir, split)
            missing, listed = self._counts[split]
            if missing:
                lines.append(f"{split}: {missing} of {listed} listed audio files are absent ({missing / listed:.1%}) and skipped "
                             f"(max_missing={self.max_missing:.0%}; list in {data_dir / f'missing-{split}.txt'})")
            lines += self.limit.report(split, *self._cropped[split])
        return lines
