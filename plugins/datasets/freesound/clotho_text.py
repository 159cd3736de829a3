"""What the miner takes from Clotho: the development captions (the classifier's positive
class), the evaluation captions (no mined description may copy one) and every Freesound
sound id of every split of every release (no mined sound may be a Clotho clip), read from a
folder of the releases' CSVs or fetched with their md5s."""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.api import BenchError, digests, fetch, mirror_url
from bench_plugins.datasets.clotho import RELEASES, known_sound, read_sound_ids

@dataclass
class ClothoText:
    """What the miner takes from Clotho: the development and evaluation captions, every
    Freesound sound id of every split, and which files they came from."""

    development: list[str] = field(default_factory=list)
    evaluation: list[str] = field(default_factory=list)
    sound_ids: set[int] = field(default_factory=set)
    files: list[dict[str, str | None]] = field(default_factory=list)
    #: The releases' metadata files not among them, as ``v2.1 validation``.
    missing: list[str] = field(default_factory=list)


def _release_files() -> dict[str, list[str]]:
    """md5 → the release files with that content (``v2.1 clotho_metadata_development.csv``)."""
    named: dict[str, list[str]] = defaultdict(list)
    for version, release in RELEASES.items():
        for name, md5 in release.md5.items():
            if name.endswith(".csv"):
                named[md5].append(f"v{version} {name}")
    return named


def _read_captions(path: Path) -> list[str]:
    """The captions of a Clotho captions CSV (``file_name,caption_1..caption_5``)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchError(f"cannot read Clotho captions {path} ({exc}); "
                         "pass a release's clotho_captions_*.csv") from None
    header = [h.strip() for h in rows[0]] if rows else []
    columns = [i for i, h in enumerate(header) if h.startswith("caption_")]
    if not columns:
        raise BenchError(f"{path}: expected columns file_name,caption_1..caption_5; "
                         f"found {','.join(header) or 'nothing'}")
    return [row[i].strip() for row in rows[1:] for i in columns if i < len(row) and row[i].strip()]


def read_clotho(directory: Path) -> ClothoText:
    """The Clotho CSVs anywhere under ``directory`` (one release flat, or several in
    subfolders). It must hold development and evaluation captions, and beside every captions
    CSV the same split's metadata (its sound ids keep the split's clips out of the mined set)."""
    captions = sorted(directory.rglob("clotho_captions_*.csv"))
    metadata = sorted(directory.rglob("clotho_metadata_*.csv"))
    for split in ("development", "evaluation"):
        if not any(p.name == f"clotho_captions_{split}.csv" for p in captions):
            raise BenchError(f"clotho_dir {directory} holds no clotho_captions_{split}.csv; it must hold a Clotho "
                             "release's captions and metadata CSVs (or leave clotho_dir out to fetch them)")
    for path in captions:
        beside = metadata_of(path)
        if not beside.is_file():
            raise BenchError(f"clotho_dir {directory}: {path.relative_to(directory)} has no {beside.name} beside it; "
                             "the sound ids of every split are needed to keep Clotho's clips out of the mined set")
    text = ClothoText()
    known = _release_files()
    found: set[str] = set()
    for path in [*captions, *metadata]:
        md5 = digests(path)["md5"]
        found.update(known.get(md5, []))
        text.files.append({"path": str(path), "release": ", ".join(known[md5]) if md5 in known else None})
        if path in metadata:
            ids = read_sound_ids(path).values()
            text.sound_ids.update(int(s) for s in ids if known_sound(s))
        elif path.name == "clotho_captions_development.csv":
            text.development.extend(_read_captions(path))
        elif path.name == "clotho_captions_evaluation.csv":
            text.evaluation.extend(_read_captions(path))
    text.development = sorted(set(text.development))
    text.evaluation = sorted(set(text.evaluation))
    missing = {name for names in known.values() for name in names if "metadata" in name} - found
    text.missing = sorted(name.replace("clotho_metadata_", "").removesuffix(".csv") for name in missing)
    return text


def metadata_of(captions: Path) -> Path:
    """The metadata CSV of a captions CSV's split, in the same folder."""
    return captions.with_name(captions.name.replace("clotho_captions_", "clotho_metadata_"))


def fetch_clotho(root: Path) -> Path:
    """Every release's captions and metadata CSVs, verified by md5, under ``root/v<version>``
    (fetched once; offline, the one-line error names the file and where to put it)."""
    for version, release in RELEASES.items():
        for name in release.md5:
            if name.endswith(".csv"):
                fetch(release.file(name), root / f"v{version}" / name,
                      url=mirror_url("BENCH_DATA_MIRROR", f"clotho_v{version}/{name}"), what=f"Clotho v{version} file",
                      hint=" (or pass -O clotho_dir=DIR holding a release's CSVs)")
    return root
