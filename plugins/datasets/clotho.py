"""Clotho v1, v2 and v2.1 (Drossos et al., 2020), from their official Zenodo records.

Each split is three published files: ``clotho_audio_<split>.7z`` (the WAV files, under a
``<split>/`` folder), ``clotho_captions_<split>.csv`` (``file_name,caption_1..caption_5``,
UTF-8) and ``clotho_metadata_<split>.csv`` (Freesound ``sound_id`` and more, ISO-8859-1).
Every file is checked against the md5 Zenodo publishes. After preparation the data
directory is in Clotho's own layout (``<split>/`` audio plus the CSVs), read by
:mod:`benchmark.data`.

With ``audio_dir``, a copy the user already extracted is adopted instead: ``DIR`` holds
the ``<split>/`` folders of WAV files (and, optionally, the CSVs, used when their md5
matches). No archive is downloaded; every listed file must be present and decode, and
each folder must hold the release's number of clips. The result key is the release's
(the clips are its clips), but every result records the audio's origin and that the
archives were not verified (:meth:`Clotho.source`).

The evaluation split carries the DCASE 2025 task 6 relevance annotations (``metadata_eval.csv``
of the organisers' baseline repository, pinned to a commit and checked by checksum; ``-D
annotations=PATH`` takes a local copy, checked alike): 1,037 of its captions, each with the
files judged relevant to it, scored by the ``dcase2025`` convention.

Splits go by Clotho's names: development, validation, evaluation. DCASE challenge papers
often call the evaluation split "test"; ``test`` is accepted and means Clotho's
*evaluation* split (whose captions are public), never the DCASE challenge's captionless
test audio.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import shutil
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.api import (BenchError, ClothoLayoutDataset, RemoteFile, Split, atomic_path, captions_csv, check_audio,
                           digests, fetch, list_split, mirror_url, read_caption_rows, read_text, stable_hash, unknown_name,
                           write_json)

ZENODO = "https://zenodo.org/record/{record}/files/{name}?download=1"
EXTRACTED = ".extracted.json"  # written into a split's audio folder once extraction is complete


@dataclass(frozen=True)
class Release:
    """One published version: its Zenodo record, splits, the md5 of every file and the
    number of clips of each split (checked when an extracted copy is adopted)."""

    version: str
    record: int
    md5: dict[str, str]
    clips: dict[str, int] = field(default_factory=dict)

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(n[len("clotho_captions_") : -4] for n in self.md5 if n.startswith("clotho_captions_"))

    def file(self, name: str) -> RemoteFile:
        return RemoteFile(name, ZENODO.format(record=self.record, name=name), md5=self.md5[name])


# The evaluation split is the same three files in every release.
_EVALUATION = {
    "clotho_audio_evaluation.7z": "4569624ccadf96223f19cb59fe4f849f",
    "clotho_captions_evaluation.csv": "1b16b9e57cf7bdb7f13a13802aeb57e2",
    "clotho_metadata_evaluation.csv": "13946f054d4e1bf48079813aac61bf77",
}
RELEASES = {
    "1": Release("1", 3490684, {
        "clotho_audio_development.7z": "e3ce88561b317cc3825e8c861cae1ec6",
        "clotho_captions_development.csv": "dd568352389f413d832add5cf604529f",
        "clotho_metadata_development.csv": "582c18ee47cebdbe33dce1feeab53a56",
        **_EVALUATION,
    }, {"development": 2893, "evaluation": 1045}),
    "2": Release("2", 4743815, {
        "clotho_audio_development.7z": "eda144a5e05a60e6d2e37a65fc4720a9",
        "clotho_captions_development.csv": "800633304e73d3daed364a2ba6069827",
        "clotho_metadata_development.csv": "5fdc51b4c4f3468ff7d251ea563588c9",
        "clotho_audio_validation.7z": "0475bfa5793e80f748d32525018ebada",
        "clotho_captions_validation.csv": "3109c353138a089c7ba724f27d71595d",
        "clotho_metadata_validation.csv": "f69cfacebcd47c4d8d30d968f9865475",
        **_EVALUATION,
    }, {"development": 3839, "validation": 1045, "evaluation": 1045}),
    # v2.1 replaced audio files that were corrupted in v2.
    "2.1": Release("2.1", 4783391, {
        "clotho_audio_development.7z": "c8b05bc7acdb13895bb3c6a29608667e",
        "clotho_captions_development.csv": "d4090b39ce9f2491908eebf4d5b09bae",
        "clotho_metadata_development.csv": "170d20935ecfdf161ce1bb154118cda5",
        "clotho_audio_validation.7z": "7dba730be08bada48bd15dc4e668df59",
        "clotho_captions_validation.csv": "5879e023032b22a2c930aaa0528bead4",
        "clotho_metadata_validation.csv": "2e010427c56b1ce6008b0f03f41048ce",
        **_EVALUATION,
    }, {"development": 3839, "validation": 1045, "evaluation": 1045}),
}

#: The DCASE 2025 task 6 relevance annotations of Clotho's evaluation split, as the
#: organisers publish them (CPJKU/dcase2025_task6_baseline, resources/metadata_eval.csv,
#: unchanged since commit 14bd413, May 2025): ``query,audio_filenames``, 1,037 queries.
DCASE2025_ANNOTATIONS = RemoteFile(
    "metadata_eval.csv",
    "https://raw.githubusercontent.com/CPJKU/dcase2025_task6_baseline/c78422fcbed579877919620a30075baccf82bf2b/"
    "resources/metadata_eval.csv",
    sha256="b89605991d1f3018088d5ce8619b7da8fe5e52c9cd576394977f141515f7fc65",
)
#: Its name in the data directory.
ANNOTATIONS = "dcase2025_metadata_eval.csv"

#: Written into the data directory: the adopted files that decoded, by size and mtime.
ADOPTED = ".adopted-{split}.json"

#: DCASE's name for Clotho's evaluation split.
ALIASES = {"test": "evaluation"}


def metadata_csv(data_dir: Path, split: str) -> Path:
    return data_dir / f"clotho_metadata_{split}.csv"


def read_sound_ids(path: Path) -> dict[str, str]:
    """``file_name → Freesound sound_id`` from a Clotho metadata CSV (ISO-8859-1)."""
    with path.open(newline="", encoding="iso-8859-1") as handle:
        rows = list(csv.reader(handle))
    header = [h.strip().lstrip("\ufeff").replace("ï»¿", "") for h in rows[0]] if rows else []
    if "file_name" not in header or "sound_id" not in header:
        raise BenchError(f"{path}: expected columns file_name and sound_id; found {','.join(header) or 'nothing'}")
    name, sound = header.index("file_name"), header.index("sound_id")
    return {row[name].strip(): row[sound].strip() for row in rows[1:] if len(row) > max(name, sound)}


def known_sound(sound_id: str) -> bool:
    """Whether a metadata ``sound_id`` names a Freesound sound: some Clotho rows hold the text
    "Not found" (or nothing) instead, which says nothing about where the clip came from."""
    return sound_id.strip().isdigit()


def read_annotations(path: Path) -> list[tuple[str, list[str]]]:
    """The DCASE 2025 annotations at ``path``: each query (stripped, as bench reads Clotho's
    captions) with its relevant file names, read as the organisers' code reads them (a
    Python list literal per row, parsed as a literal only). A row that is not a query and a
    list of file names is one line naming the file and line."""
    rows = list(csv.reader(io.StringIO(read_text(path), newline="")))
    if not rows or [h.strip() for h in rows[0]] != ["query", "audio_filenames"]:
        raise BenchError(f"{path}: expected the columns query,audio_filenames of DCASE 2025's metadata_eval.csv")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            files = ast.literal_eval(row[1]) if len(row) == 2 else None
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            files = None
        if not row[0].strip() or not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise BenchError(f"{path}, line {line}: expected a query and a list of file names such as "
                             "\"['a.wav', 'b.wav']\"")
        out.append((row[0].strip(), files))
    return out


class Clotho(ClothoLayoutDataset):
    """The files of one Clotho release, downloaded, verified and extracted on demand, or
    adopted from a folder the user extracted (``audio_dir``)."""

    release: Release

    def __init__(self, keep_archives: bool = False, audio_dir: str | None = None) -> None:
        self.keep_archives = bool(keep_archives)
        # Not an option of the result key: the adopted clips are checked to be the release's.
        self.audio_dir = str(Path(str(audio_dir)).expanduser().resolve()) if audio_dir else None

    def storage_options(self) -> dict[str, Any]:
        return {"release": self.release.version}

    def source(self) -> dict[str, Any]:
        """Downloaded: the archives' md5 was checked. Adopted: the audio is the user's copy,
        checked for names, counts and decoding only."""
        if self.audio_dir:
            return {"audio_dir": self.audio_dir, "archives_verified": False}
        return {"archives_verified": True}

    def audio_folder(self, data_dir: Path, split: str) -> Path:
        return Path(self.audio_dir) / split if self.audio_dir else data_dir / split

    # -- preparation ---------------------------------------------------------------------
    def _fetch(self, name: str, target: Path) -> Path:
        return fetch(
            self.release.file(name),
            target,
            url=mirror_url("BENCH_DATA_MIRROR", f"clotho_v{self.release.version}/{name}"),
            what=f"Clotho v{self.release.version} file",
            hint=" (files you downloaded yourself are used once they are there)",
        )

    def _csv(self, name: str, data_dir: Path) -> Path:
        """A captions or metadata CSV: the copy in ``audio_dir`` if its md5 is the release's
        (copied into the data directory), else downloaded as usual."""
        target = data_dir / name
        offered = Path(self.audio_dir) / name if self.audio_dir else None
        if offered is not None and not target.exists() and offered.is_file():
            if digests(offered)["md5"] == self.release.md5[name]:
                with atomic_path(target) as tmp:
                    shutil.copyfile(offered, tmp)
        return self._fetch(name, target)

    def prepare(self, data_dir: Path) -> None:
        """Download what is missing, verify every file (cached by size and mtime), extract
        each audio archive once. Re-running on a prepared directory only re-checks. With
        ``audio_dir``, check the adopted folders instead of extracting anything."""
        for split in self.release.splits:
            for name in (f"clotho_captions_{split}.csv", f"clotho_metadata_{split}.csv"):
                self._csv(name, data_dir)
            if self.audio_dir:
                self._check_adopted(data_dir, split)
            else:
                self._extract_audio(data_dir, split)

    def _check_adopted(self, data_dir: Path, split: str) -> None:
        """Before any expensive work: the split's folder holds every file the (verified)
        captions CSV lists, as many WAV files as the release has clips, and each decodes."""
        release = f"Clotho v{self.release.version}"
        folder = Path(self.audio_dir) / split
        if not folder.is_dir():
            raise BenchError(
                f"audio_dir {self.audio_dir} has no {split}/ folder; it must hold "
                f"{release}'s {', '.join(f'{s}/' for s in self.release.splits)} folders of WAV files as the archives extract"
            )
        listing = list_split(captions_csv(data_dir, split), folder, split, self.ragged_captions)
        expected = self.release.clips.get(split)
        if expected is not None:
            wavs = sum(1 for entry in os.scandir(folder) if entry.is_file() and entry.name.strip().lower().endswith(".wav"))
            if listing.listed != expected or wavs != expected:
                raise BenchError(
                    f"{folder} holds {wavs} WAV files and its captions CSV lists "
                    f"{listing.listed} clips, but {release}'s {split} split has {expected}: is it another release's folder?"
                )
        check_audio(listing.where(), data_dir / ADOPTED.format(split=split))

    def _extract_audio(self, data_dir: Path, split: str) -> None:
        from benchmark.api import extract

        name = f"clotho_audio_{split}.7z"
        audio_dir = data_dir / split
        stamp = {"archive": name, "md5": self.release.md5[name]}
        marker = audio_dir / EXTRACTED
        if marker.is_file() and json.loads(marker.read_text()) == stamp:
            return
        archive = self._fetch(name, data_dir / "archives" / name)
        unpacked = data_dir / f".{split}.unpacked"
        shutil.rmtree(unpacked, ignore_errors=True)  # left by an interrupted run
        extract(archive, unpacked)
        entries = list(unpacked.iterdir())
        root = entries[0] if len(entries) == 1 and entries[0].is_dir() else unpacked  # the archive's <split>/ folder
        shutil.rmtree(audio_dir, ignore_errors=True)
        os.replace(root, audio_dir)
        shutil.rmtree(unpacked, ignore_errors=True)
        write_json(marker, stamp)  # last: an interrupted extraction is redone
        if not self.keep_archives:
            archive.unlink()

    # -- splits --------------------------------------------------------------------------
    def load_split(self, data_dir: Path, split: str) -> Split:
        split = ALIASES.get(split, split)
        if split not in self.release.splits:
            raise unknown_name(f"Clotho v{self.release.version} split", split, self.release.splits)
        return super().load_split(data_dir, split)

    def report(self, data_dir: Path) -> list[str]:
        """Clips whose Freesound sound appears in more than one split (a known Clotho
        problem); the official splits are left as they are. The full list goes to
        ``leakage.json`` in the data directory."""
        splits_of: dict[str, set[str]] = defaultdict(set)
        clips_of: dict[str, list[str]] = defaultdict(list)
        unknown = 0  # clips whose sound_id is "Not found" or empty: not one sound shared by all splits
        for split in self.release.splits:
            for file_name, sound_id in read_sound_ids(metadata_csv(data_dir, split)).items():
                if not known_sound(sound_id):
                    unknown += 1
                    continue
                splits_of[sound_id].add(split)
                clips_of[sound_id].append(f"{split}/{file_name}")
        leaked = {s: clips_of[s] for s in sorted(splits_of) if len(splits_of[s]) > 1}
        write_json(data_dir / "leakage.json", leaked)
        unchecked = f"; {unknown} clips have no Freesound sound id ('Not found' or empty) and are not checked" if unknown else ""
        lines = []
        if self.audio_dir:
            lines.append(
                f"audio adopted from {self.audio_dir}: every listed file is present and decodes; "
                "the archives were not verified (recorded with every result)"
            )
        if not leaked:
            return [*lines, f"leakage check: no Freesound sound appears in more than one split{unchecked}"]
        pairs = defaultdict(int)
        for sound in leaked:
            pairs[" & ".join(sorted(splits_of[sound]))] += 1
        where = ", ".join(f"{n} in {p}" for p, n in sorted(pairs.items()))
        return [
            *lines,
            f"leakage check: {len(leaked)} Freesound sounds have clips in more than one split ({where}){unchecked}; "
            f"the official splits are kept as published, list in {data_dir / 'leakage.json'}",
        ]


class ClothoV2(Clotho):
    """Clotho v2.1 by default (``release: "2"`` selects v2). Protocols: ``standard`` trains on
    development, validates on validation, tests on evaluation; ``report`` (the reference
    report's) trains on development + validation and validates and tests on evaluation. A
    mapping ``{train: …, validation: …, test: …}`` of split names (``a+b`` for a union) sets
    any other protocol."""

    PROTOCOLS = {
        "standard": {"train": "development", "validation": "validation", "test": "evaluation"},
        "report": {"train": "development+validation", "validation": "evaluation", "test": "evaluation"},
    }

    def __init__(
        self, release: str = "2.1", protocol: str | dict[str, str] = "standard", keep_archives: bool = False,
        audio_dir: str | None = None, annotations: str | None = None,
    ) -> None:
        super().__init__(keep_archives, audio_dir)
        # Not an option of the result key: a local copy must be the published file.
        self.annotations = Path(str(annotations)).expanduser().resolve() if annotations else None
        if self.annotations is not None and not self.annotations.is_file():
            raise BenchError(f"annotations {self.annotations} is not a file; give the path of DCASE 2025's "
                             "metadata_eval.csv, or leave the option out to download it")
        release = str(release).removeprefix("v")
        if release not in ("2", "2.1"):
            raise unknown_name("release", release, ("2", "2.1"))
        self.release = RELEASES[release]
        if isinstance(protocol, dict):
            roles = {"train", "validation", "test"}
            if set(protocol) != roles:
                raise BenchError(f"a protocol mapping needs exactly the roles {', '.join(sorted(roles))}")
            self.protocol = {
                role: "+".join(ALIASES.get(s.strip(), s.strip()) for s in str(splits).split("+"))
                for role, splits in protocol.items()
            }
            for names in self.protocol.values():
                for name in names.split("+"):
                    if name not in self.release.splits:
                        raise unknown_name("Clotho split", name, (*self.release.splits, *ALIASES))
            self.protocol_name = f"custom-{stable_hash(self.protocol, 6)}"
        elif protocol in self.PROTOCOLS:
            self.protocol = dict(self.PROTOCOLS[protocol])
            self.protocol_name = protocol
        else:
            raise unknown_name("protocol", str(protocol), tuple(self.PROTOCOLS))
        self._protocol_option = protocol

    def options(self) -> dict[str, Any]:
        return {"release": self.release.version, "protocol": self._protocol_option}

    def prepare(self, data_dir: Path) -> None:
        """The release's files, and the DCASE 2025 annotations of its evaluation split."""
        super().prepare(data_dir)
        self._annotations(data_dir)

    def _annotations(self, data_dir: Path) -> Path:
        """The DCASE 2025 annotations in the data directory: the local copy given (refused
        unless it is the published file) or one in ``audio_dir`` that is, else downloaded and
        checked."""
        target = data_dir / ANNOTATIONS
        beside = Path(self.audio_dir) / DCASE2025_ANNOTATIONS.name if self.audio_dir else None
        offered = self.annotations or (beside if beside is not None and beside.is_file() else None)
        if offered is not None and not target.exists():
            if digests(offered)["sha256"] != DCASE2025_ANNOTATIONS.sha256:
                if offered == self.annotations:
                    raise BenchError(f"annotations {offered} is not DCASE 2025's metadata_eval.csv (its sha256 differs "
                                     f"from the published {DCASE2025_ANNOTATIONS.sha256}); give the organisers' file")
            else:
                with atomic_path(target) as tmp:
                    shutil.copyfile(offered, tmp)
        return fetch(DCASE2025_ANNOTATIONS, target, url=mirror_url("BENCH_DATA_MIRROR", f"dcase2025/{DCASE2025_ANNOTATIONS.name}"),
                     what="DCASE 2025 annotations file", hint=" (or give a copy with -D annotations=PATH)")

    def query_sets(self, data_dir: Path, split: Split) -> dict[str, list[tuple[str, list[str]]]]:
        """On the evaluation split, DCASE 2025's annotated queries (``dcase2025``); a listed
        file name that differs from the split's only by surrounding spaces is the split's."""
        if split.name != "evaluation":
            return {}
        names = {name.strip(): name for name in split.file_names}
        return {"dcase2025": [(query, [names.get(f.strip(), f) for f in files])
                              for query, files in read_annotations(self._annotations(data_dir))]}

    def caption_split(self, data_dir: Path, split: str) -> Split:
        """The split's files and captions from its captions CSV alone (and, for the evaluation
        split, the annotations): no audio is downloaded or read."""
        split = ALIASES.get(split, split)
        if split not in self.release.splits:
            raise unknown_name(f"Clotho v{self.release.version} split", split, self.release.splits)
        rows = read_caption_rows(self._csv(f"clotho_captions_{split}.csv", data_dir), self.ragged_captions)
        if split == "evaluation":
            self._annotations(data_dir)
        folder = self.audio_folder(data_dir, split)
        return Split(split, tuple(folder / row.name.strip() for row in rows), tuple(row.captions for row in rows))


class ClothoV1(Clotho):
    """Clotho v1: development (2,893 clips) and evaluation (1,045). It has no validation
    split; as in the reference report, a random ``validation_share`` of development,
    drawn with ``validation_seed``, validates and the rest trains."""

    protocol_name = "holdout"
    protocol = {"train": "development-train", "validation": "development-validation", "test": "evaluation"}

    def __init__(
        self, validation_share: float = 0.2, validation_seed: int = 0, keep_archives: bool = False, audio_dir: str | None = None
    ) -> None:
        super().__init__(keep_archives, audio_dir)
        self.release = RELEASES["1"]
        if not 0.0 < float(validation_share) < 1.0:
            raise BenchError(f"validation_share must be between 0 and 1, got {validation_share}")
        self.validation_share, self.validation_seed = float(validation_share), int(validation_seed)

    def options(self) -> dict[str, Any]:
        return {"validation_share": self.validation_share, "validation_seed": self.validation_seed}

    def load_split(self, data_dir: Path, split: str) -> Split:
        if split not in ("development-train", "development-validation"):
            return super().load_split(data_dir, split)
        development = super().load_split(data_dir, "development")
        order = np.random.default_rng(self.validation_seed).permutation(len(development))
        held_out = np.sort(order[: round(self.validation_share * len(development))])
        if split == "development-validation":
            return development.subset(split, held_out.tolist())
        return development.subset(split, np.setdiff1d(np.arange(len(development)), held_out).tolist())

