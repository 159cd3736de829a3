"""Any Hugging Face ``datasets`` dataset with an audio column and caption columns.

``path`` is a hub name (``org/name``, downloaded by ``datasets``, cached in its own cache),
a directory written by ``save_to_disk``, or a directory of data files laid out as on the
hub (``train.parquet``, …). Preparation writes each split of the protocol
in Clotho's layout (audio files plus a captions CSV) under the data directory, so the
experts read it like any other dataset. Audio is copied as stored (encoded bytes), never
decoded by ``datasets``: bench reads it with soundfile like every other file.

A caption column holds one string or a list of strings per row; clips may have
different numbers of captions, but every clip needs at least one.

A local AudioFolder directory (audio files plus ``metadata.csv`` or ``metadata.jsonl``
with a ``file_name`` column, at the root or per split folder) is read directly, without
``datasets`` (which would need torchcodec to re-encode the audio): the metadata names the
files, which are read where they are (:mod:`bench_plugins.datasets.audiofolder`).
Preparation checks every split of the protocol first: a listed file that is absent (or,
with ``max_missing``, more than that share of them), one that does not decode, an empty
caption, a duplicate file, a file name leaving the directory and a split folder without
metadata are one-line errors naming the metadata file and line.

The result key ends in ``-data-<fingerprint>`` of the content, so results and features
on other data never share a key: an AudioFolder's audio bytes and captions, a local
directory's files (digests kept by size and mtime: an unchanged directory costs a stat
per file), a hub dataset's commit. Splits written from a source that changed since are
written again.

A clip longer than ``-D max_seconds`` (default 60: twice Clotho's longest) is refused at
preparation, naming its metadata line or its row, unless ``-D long_clips=crop``: then the
first ``max_seconds`` of it are used, and the results record how many were cut.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Sequence

from benchmark.api import (MAX_SECONDS, BenchError, ClipLimit, ClothoLayoutDataset, Listing, Split, atomic_path,
                           captions_csv, check_audio, clips_fingerprint, files_fingerprint, offline, select_present,
                           stable_hash, unknown_name, write_captions_csv, write_json)

PREPARED = ".prepared.json"


class HuggingFace(ClothoLayoutDataset):
    ragged_captions = True

    def __init__(
        self,
        path: str = "",
        name: str | None = None,
        revision: str | None = None,
        audio_column: str = "audio",
        caption_columns: str | Sequence[str] = ("caption",),
        train: str = "train",
        validation: str = "validation",
        test: str = "test",
        max_missing: float = 0.0,
        max_seconds: float = MAX_SECONDS,
        long_clips: str = "refuse",
    ) -> None:
        self.limit = ClipLimit.from_options(max_seconds, long_clips)
        self.path, self.name, self.revision = str(path), name, revision
        if not 0.0 <= float(max_missing) < 1.0:
            raise BenchError(f"max_missing must be a share from 0 up to 1, got {max_missing}")
        self.max_missing = float(max_missing)  # AudioFolder: share of listed files that may be absent (skipped)
        self._source: dict[str, Any] = {}
        self._counts: dict[str, tuple[int, int]] = {}  # AudioFolder split -> (absent files skipped, clips listed)
        self._metadata: tuple[Any, dict[str, Any]] | None = None  # AudioFolder: (metadata stamps, clips by split)
        self._fingerprints: dict[str, str] = {}  # AudioFolder split -> its clips' content
        self._origin: str | None = None  # through datasets: the source's content (files' digests, hub commit)
        self._cropped: dict[str, tuple[int, int]] = {}  # split -> (clips longer than max_seconds, clips)
        self.audio_column = audio_column
        columns = [caption_columns] if isinstance(caption_columns, str) else list(caption_columns)
        if not columns:
            raise BenchError("caption_columns must name at least one column")
        self.caption_columns = columns
        self.protocol = {"train": train, "validation": validation, "test": test}

    def options(self) -> dict[str, Any]:
        return {
            "path": self.path, "name": self.name, "revision": self.revision, "audio_column": self.audio_column,
            "caption_columns": self.caption_columns, **self.protocol,
            **({"max_missing": self.max_missing} if self.max_missing else {}),  # keys of earlier results unchanged
            **self.limit.options(),
        }

    def storage_options(self) -> dict[str, Any]:
        limit = self.limit.options()
        return {k: v for k, v in self.options().items() if k not in limit}  # the limit changes no file written

    def source(self) -> dict[str, Any]:
        source = dict(self._source)
        if any(n for n, _ in self._cropped.values()):
            source["cropped"] = {split: n for split, (n, _) in sorted(self._cropped.items())}
        return source

    # -- AudioFolder directories, read in place --------------------------------------------
    def _audiofolder(self) -> Path | None:
        """The directory, when ``path`` is a local AudioFolder directory (metadata.csv/jsonl)."""
        from bench_plugins.datasets.audiofolder import metadata_files

        local = Path(self.path).expanduser() if self.path else None
        if local is None or not local.is_dir() or (local / "dataset_dict.json").is_file() or (local / "state.json").is_file():
            return None
        return local.resolve() if metadata_files(local) else None

    def _used(self) -> list[str]:
        return sorted({name for names in self.protocol.values() for name in names.split("+")})

    def _listing(self, root: Path, data_dir: Path, split: str) -> Listing:
        from bench_plugins.datasets.audiofolder import METADATA, metadata_files, read_audiofolder
        from benchmark.api import write_text

        stamp = [(str(m), m.stat().st_mtime_ns, m.stat().st_size) for m, _ in metadata_files(root)]
        if self._metadata is None or self._metadata[0] != stamp:  # read once per run, again if edited
            self._metadata = (stamp, read_audiofolder(root, self.caption_columns))
        splits = self._metadata[1]
        if split not in splits:
            if (root / split).is_dir():
                raise BenchError(
                    f"split folder {root / split} has no {' or '.join(METADATA)}, "
                    f"and no metadata file at {root} lists files in it"
                )
            raise unknown_name(f"split of {self.path!r}", split, list(splits), hint="Choose splits with -D train=/validation=/test=.")
        listing = select_present(split, splits[split], self.max_missing, "; -D max_missing=SHARE skips absent files")
        write_text(data_dir / f"missing-{split}.txt", "".join(f"{name}\n" for name in listing.missing))
        self._counts[split] = (len(listing.missing), listing.listed)
        self._source = {"path": str(root), "layout": "audiofolder", "read_in_place": True, "checksums_verified": False,
                        "checked": "every listed file present and decodable"}
        if any(missing for missing, _ in self._counts.values()):
            self._source["missing_skipped"] = {s: missing for s, (missing, _) in sorted(self._counts.items())}
        if self._fingerprints:
            self._source["fingerprint"] = self._content()
        return listing

    def _checked(self, root: Path, data_dir: Path, split: str) -> Split:
        """An AudioFolder split, its files checked (present, decoding) and its content
        fingerprinted; what was found is remembered by size and mtime."""
        listing = self._listing(root, data_dir, split)
        facts = check_audio(listing.where(), data_dir / f".decodes-{split}.json", digest=True, limit=self.limit)
        self._fingerprints[split] = clips_fingerprint(facts, listing.split.captions)
        self._source["fingerprint"] = self._content()
        self._cropped[split] = (len(self.limit.longer(facts)), len(facts))
        return dataclasses.replace(listing.split, fingerprint=self._fingerprints[split], crop_seconds=self.limit.crop_seconds)

    def _content(self) -> str:
        return stable_hash({split: self._fingerprints.get(split) for split in self._used()}, 16)

    def fingerprint(self, data_dir: Path) -> str:
        """The content: an AudioFolder's audio bytes and captions (each split checked), a
        local directory's files, a hub dataset's commit."""
        root = self._audiofolder()
        if root is not None:
            for split in self._used():
                self._checked(root, data_dir, split)
            return self._content()
        self._origin = self._origin_fingerprint(data_dir)
        return self._origin

    def _origin_fingerprint(self, data_dir: Path) -> str:
        """A local directory's files (digests kept by size and mtime), or the hub commit the
        revision points at now (offline: the one its splits were written from)."""
        if not self.path:
            raise BenchError("needs -D path=<hub name or save_to_disk directory>")
        local = Path(self.path).expanduser()
        if local.is_dir():
            return files_fingerprint(local.resolve(), data_dir / ".source.json")
        if offline():
            written = self._marker(data_dir).get("source")
            if written:
                return str(written)
            raise BenchError(
                f"{self.path!r} is not a local directory and downloads are off "
                "(BENCH_OFFLINE/HF_HUB_OFFLINE); pass a save_to_disk directory or go online"
            )
        from huggingface_hub import HfApi

        try:
            return str(HfApi().dataset_info(self.path, revision=self.revision).sha)
        except Exception as exc:  # hub errors come in many types
            raise BenchError(f"cannot look up {self.path!r} on the hub ({exc})") from None

    @staticmethod
    def _marker(data_dir: Path) -> dict[str, Any]:
        try:
            marker = json.loads((data_dir / PREPARED).read_text())
        except (OSError, ValueError):
            return {}
        return marker if isinstance(marker, dict) else {}

    def _written_options(self) -> dict[str, Any]:
        """The options that decide the files written from a ``datasets`` source."""
        return {k: v for k, v in self.storage_options().items() if k != "max_missing"}

    def load_split(self, data_dir: Path, split: str) -> Split:
        root = self._audiofolder()
        if root is None:
            origin = self._origin or self._marker(data_dir).get("source") or ""
            written = super().load_split(data_dir, split)
            return dataclasses.replace(written, fingerprint=origin, crop_seconds=self.limit.crop_seconds)
        return self._checked(root, data_dir, split)

    def _check_written(self, data_dir: Path) -> None:
        """The files written from a ``datasets`` source decode and are no longer than the
        limit allows (an error names the row); remembered by size and mtime."""
        for split in self._used():
            written = super().load_split(data_dir, split)
            where = [(path, f"{self.path!r}, split {split!r}, row {int(path.stem)}") for path in written.audio_paths]
            facts = check_audio(where, data_dir / f".decodes-{split}.json", limit=self.limit)
            self._cropped[split] = (len(self.limit.longer(facts)), len(facts))

    def report(self, data_dir: Path) -> list[str]:
        lines = []
        for split, (missing, listed) in sorted(self._counts.items()):
            if missing:
                lines.append(f"{split}: {missing} of {listed} listed audio files are absent ({missing / listed:.1%}) and skipped "
                             f"(max_missing={self.max_missing:.0%}; list in {data_dir / f'missing-{split}.txt'})")
        for split, (cropped, clips) in sorted(self._cropped.items()):
            lines += self.limit.report(split, cropped, clips)
        return lines

    def _load(self) -> Any:
        import datasets

        if not self.path:
            raise BenchError("needs -D path=<hub name or save_to_disk directory>")
        local = Path(self.path).expanduser()
        if (local / "dataset_dict.json").is_file() or (local / "state.json").is_file():
            return datasets.load_from_disk(str(local))
        if local.is_dir():  # data files (parquet, …) laid out as on the hub
            try:
                return datasets.load_dataset(str(local), self.name)
            except Exception as exc:
                raise BenchError(f"cannot load {local} ({exc}); expected a save_to_disk directory "
                                 "or data files such as train.parquet") from None
        if offline():
            raise BenchError(
                f"{self.path!r} is not a local directory and downloads are off "
                "(BENCH_OFFLINE/HF_HUB_OFFLINE); pass a save_to_disk directory or go online"
            )
        try:
            return datasets.load_dataset(self.path, self.name, revision=self.revision)
        except Exception as exc:  # hub errors come in many types
            raise BenchError(f"cannot load {self.path!r} from the hub ({exc})") from None

    def prepare(self, data_dir: Path) -> None:
        """AudioFolder: check every split of the protocol. Otherwise write the splits in
        Clotho's layout, unless they were written from these options and this content."""
        root = self._audiofolder()
        if root is not None:
            self.fingerprint(data_dir)
            return
        origin = self._origin or self.fingerprint(data_dir)
        marker = data_dir / PREPARED
        written = self._marker(data_dir)
        wanted = {"options": self._written_options(), "source": origin}
        if written.get("complete") and {k: written.get(k) for k in wanted} == wanted:
            self._source = self._datasets_source(written.get("fingerprints", {}))
            self._check_written(data_dir)
            return
        if written and {k: written.get(k) for k in wanted} != wanted:  # not an interrupted write of the same: start over
            if written.get("source") and written.get("options") == wanted["options"]:
                print(f"dataset 'hf': {self.path} changed since its splits were written to {data_dir}: writing them again",
                      file=sys.stderr, flush=True)
            for csv_file in data_dir.glob("clotho_captions_*.csv"):
                shutil.rmtree(data_dir / csv_file.name[len("clotho_captions_") : -4], ignore_errors=True)
                csv_file.unlink()
        write_json(marker, {**wanted, "complete": False})
        import datasets

        loaded = self._load()
        if not isinstance(loaded, datasets.DatasetDict):
            loaded = datasets.DatasetDict({"train": loaded})
        fingerprints = {}
        for split in sorted(set(self.protocol.values())):
            if split not in loaded:
                raise unknown_name(f"split of {self.path!r}", split, list(loaded), hint="Choose splits with -D train=/validation=/test=.")
            table = loaded[split]
            for column in (self.audio_column, *self.caption_columns):
                if column not in table.column_names:
                    raise unknown_name(f"column of {self.path!r}", column, table.column_names)
            self._write_split(table.cast_column(self.audio_column, datasets.Audio(decode=False)), data_dir, split)
            fingerprints[split] = table._fingerprint
        write_json(marker, {**wanted, "fingerprints": fingerprints, "complete": True})
        self._source = self._datasets_source(fingerprints)
        self._check_written(data_dir)

    def _datasets_source(self, fingerprints: dict[str, str]) -> dict[str, Any]:
        """Loaded through ``datasets``: from where, at which revision, the content's
        fingerprint (the files' digests or the hub commit) and the tables' fingerprints
        (``datasets``' hashes) when the splits were written."""
        local = Path(self.path).expanduser()
        layout = "save_to_disk" if (local / "dataset_dict.json").is_file() or (local / "state.json").is_file() else (
            "data_files" if local.is_dir() else "hub")
        where = str(local.resolve()) if layout != "hub" else self.path
        source = {"path": where, "layout": layout, "fingerprint": self._origin, "fingerprints": fingerprints}
        if layout == "hub":
            source["revision"] = self.revision or "unpinned"
        return source

    def _write_split(self, table: Any, data_dir: Path, split: str) -> None:
        """One audio file per row (kept if already written) and the captions CSV."""
        from benchmark.api import Progress

        audio_dir = data_dir / split
        audio_dir.mkdir(parents=True, exist_ok=True)
        names, captions = [], []
        with Progress(len(table), f"writing {split}", unit="clip") as bar:
            for row, item in enumerate(table):
                audio = item[self.audio_column] or {}
                source = audio.get("path") or ""
                extension = os.path.splitext(source)[1] or ".wav"
                name = f"{row:07d}{extension}"
                clip_captions = []
                for column in self.caption_columns:
                    value = item[column]
                    for text in [value] if isinstance(value, str) or value is None else list(value):
                        if not (text or "").strip():
                            raise BenchError(f"{self.path!r}, split {split!r}, row {row}: empty caption in column {column!r}")
                        clip_captions.append(text.strip())
                target = audio_dir / name
                if not target.is_file():
                    with atomic_path(target) as tmp:
                        if audio.get("bytes"):
                            tmp.write_bytes(audio["bytes"])
                        elif source and Path(source).is_file():
                            shutil.copyfile(source, tmp)
                        else:
                            raise BenchError(f"{self.path!r}, split {split!r}, row {row}: no audio (column {self.audio_column!r} holds neither bytes nor a readable file)")
                names.append(name)
                captions.append(clip_captions)
                bar.update()
        if not names:
            raise BenchError(f"{self.path!r}: split {split!r} is empty")
        write_captions_csv(captions_csv(data_dir, split), names, captions)
