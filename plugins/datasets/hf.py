"""Any Hugging Face ``datasets`` dataset with an audio column and caption columns.

``path`` is a hub name (``org/name``, downloaded by ``datasets``, cached in its own cache),
a directory written by ``save_to_disk``, or a directory of data files laid out as on the
hub (``train.parquet``, …). Preparation writes each split of the protocol
in Clotho's layout (audio files plus a captions CSV) under the data directory, so the
experts read it like any other dataset. Audio is copied as stored (encoded bytes), never
decoded by ``datasets``: bench reads it with soundfile like every other file.

A caption column holds one string or a list of strings per row; clips may have
different numbers of captions, but every clip needs at least one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from benchmark.data import ClothoLayoutDataset, captions_csv, write_captions_csv
from benchmark.download import offline
from benchmark.errors import BenchError, unknown_name
from benchmark.io import atomic_path, write_json

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
    ) -> None:
        self.path, self.name, self.revision = str(path), name, revision
        self.audio_column = audio_column
        columns = [caption_columns] if isinstance(caption_columns, str) else list(caption_columns)
        if not columns:
            raise BenchError("dataset 'hf': caption_columns must name at least one column")
        self.caption_columns = columns
        self.protocol = {"train": train, "validation": validation, "test": test}

    def options(self) -> dict[str, Any]:
        return {
            "path": self.path, "name": self.name, "revision": self.revision, "audio_column": self.audio_column,
            "caption_columns": self.caption_columns, **self.protocol,
        }

    def _load(self) -> Any:
        import datasets

        if not self.path:
            raise BenchError("dataset 'hf' needs -D path=<hub name or save_to_disk directory>")
        local = Path(self.path).expanduser()
        if (local / "dataset_dict.json").is_file() or (local / "state.json").is_file():
            return datasets.load_from_disk(str(local))
        if local.is_dir():  # data files (parquet, …) laid out as on the hub
            try:
                return datasets.load_dataset(str(local), self.name)
            except Exception as exc:
                raise BenchError(f"dataset 'hf': cannot load {local} ({exc}); expected a save_to_disk directory "
                                 "or data files such as train.parquet") from None
        if offline():
            raise BenchError(
                f"dataset 'hf': {self.path!r} is not a local directory and downloads are off "
                "(BENCH_OFFLINE/HF_HUB_OFFLINE); pass a save_to_disk directory or go online"
            )
        try:
            return datasets.load_dataset(self.path, self.name, revision=self.revision)
        except Exception as exc:  # hub errors come in many types
            raise BenchError(f"dataset 'hf': cannot load {self.path!r} from the hub ({exc})") from None

    def prepare(self, data_dir: Path) -> None:
        marker = data_dir / PREPARED
        if marker.is_file() and json.loads(marker.read_text()).get("options") == self.options():
            return
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
        write_json(marker, {"options": self.options(), "fingerprints": fingerprints})

    def _write_split(self, table: Any, data_dir: Path, split: str) -> None:
        """One audio file per row (kept if already written) and the captions CSV."""
        from benchmark.progress import Progress

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
                            raise BenchError(f"dataset 'hf' {self.path!r}, split {split!r}, row {row}: empty caption in column {column!r}")
                        clip_captions.append(text.strip())
                target = audio_dir / name
                if not target.is_file():
                    with atomic_path(target) as tmp:
                        if audio.get("bytes"):
                            tmp.write_bytes(audio["bytes"])
                        elif source and Path(source).is_file():
                            shutil.copyfile(source, tmp)
                        else:
                            raise BenchError(f"dataset 'hf' {self.path!r}, split {split!r}, row {row}: no audio (column {self.audio_column!r} holds neither bytes nor a readable file)")
                names.append(name)
                captions.append(clip_captions)
                bar.update()
        if not names:
            raise BenchError(f"dataset 'hf' {self.path!r}: split {split!r} is empty")
        write_captions_csv(captions_csv(data_dir, split), names, captions)
