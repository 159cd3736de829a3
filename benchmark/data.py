"""Splits in Clotho's on-disk layout: ``<split>/`` audio files plus ``clotho_captions_<split>.csv``.

Every dataset that ships (or is generated) in this layout goes through the same reader,
so the embedded synthetic set exercises the code path Clotho uses.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, Callable, Sequence

from benchmark.api import Dataset, Split
from benchmark.errors import BenchError, naming, unknown_name
from benchmark.io import atomic_path, read_text, stable_hash, write_json

if TYPE_CHECKING:
    from benchmark.plugins import PluginManager
    from benchmark.queries import Relevance


def captions_csv(data_dir: Path, split: str) -> Path:
    return data_dir / f"clotho_captions_{split}.csv"


@dataclass(frozen=True)
class CaptionRow:
    """One clip of a captions file: its ``line``, the file name as written, its captions."""

    line: int
    name: str
    captions: tuple[str, ...]


def read_caption_rows(path: Path, ragged: bool = False) -> list[CaptionRow]:
    """The rows of a Clotho captions CSV (``file_name,caption_1,…,caption_N``), checked.

    Missing columns, non-UTF-8 bytes, short rows, empty file names, duplicate file names
    and empty captions are errors that name the file and line. With ``ragged``, clips may
    leave trailing caption cells empty (datasets whose clips have different numbers of
    captions) but need at least one. File names are kept as written (Clotho's carry HTML
    entities such as ``&amp;``, spaces, commas and brackets, and so do its audio files).
    """
    if not path.is_file():
        raise BenchError(f"captions file {path} not found; run `bench prepare` for this dataset")
    rows = list(csv.reader(io.StringIO(read_text(path), newline="")))
    if not rows:
        raise BenchError(f"{path}: empty captions file")
    header = [h.strip() for h in rows[0]]
    caption_columns = [i for i, h in enumerate(header) if h.startswith("caption_")]
    if "file_name" not in header or not caption_columns:
        raise BenchError(f"{path}: expected columns file_name,caption_1,…; found {','.join(header)}")
    name_column = header.index("file_name")
    seen: set[str] = set()
    out: list[CaptionRow] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise BenchError(f"{path}, line {line}: {len(row)} columns, expected {len(header)}")
        name = row[name_column]
        if not name.strip():
            raise BenchError(f"{path}, line {line}: empty file_name")
        if name.strip() in seen:
            raise BenchError(f"{path}, line {line}: duplicate file name {name.strip()!r}")
        seen.add(name.strip())
        clip_captions = tuple(row[i].strip() for i in caption_columns)
        if ragged:
            while len(clip_captions) > 1 and not clip_captions[-1]:
                clip_captions = clip_captions[:-1]
        for column, caption in zip(caption_columns, clip_captions):
            if not caption:
                raise BenchError(f"{path}, line {line}: empty {header[column]} for {name.strip()!r}")
        out.append(CaptionRow(line, name, clip_captions))
    if not out:
        raise BenchError(f"{path}: no clips listed")
    return out


def member_path(root: Path, name: str, where: str) -> Path:
    """``root / name`` for a file name relative to ``root``. A name that is absolute or
    climbs out with ``..`` (read as a POSIX or a Windows path) is refused, ``where`` saying
    which file and line listed it: a listed file is never read outside its directory.
    Links the user placed in ``root`` are followed."""
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if posix.is_absolute() or windows.is_absolute() or windows.drive or ".." in posix.parts or ".." in windows.parts:
        raise BenchError(f"{where}: file name {name!r} leaves the directory {root} (absolute or '..'); names must be relative to it")
    return root / name


def find_audio(audio_dir: Path, name: str, where: str) -> Path | None:
    """The audio file a captions file lists as ``name``: the exact name first, then with
    surrounding spaces stripped (a few Clotho cells carry them); None if neither exists."""
    for candidate in dict.fromkeys((name, name.strip())):
        path = member_path(audio_dir, candidate, where)
        if path.is_file():
            return path
    return None


@dataclass(frozen=True)
class Listing:
    """A split read from its captions file(s): the clips with audio, where each was listed
    (``"<file>, line <n>"``), and the names listed whose audio is absent (skipped only
    within a ``max_missing`` share)."""

    split: Split
    origins: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def listed(self) -> int:
        return len(self.split) + len(self.missing)

    def where(self) -> list[tuple[Path, str]]:
        """Each clip's audio file with where it was listed, for :func:`check_audio`."""
        return list(zip(self.split.audio_paths, self.origins))


@dataclass(frozen=True)
class Listed:
    """One clip as a captions or metadata file lists it: ``audio`` is None when absent
    (``expected`` is then the path that was looked for)."""

    origin: str
    name: str
    audio: Path | None
    expected: Path
    captions: tuple[str, ...]


def select_present(split: str, clips: Sequence[Listed], max_missing: float = 0.0, hint: str = "") -> Listing:
    """The clips whose audio is present, as split ``split``. Absent audio is an error naming
    the first such file and where it was listed, unless absent clips are at most
    ``max_missing`` (a share) of those listed: then they are skipped. ``hint`` ends the
    message."""
    present = [c for c in clips if c.audio is not None]
    missing = [c for c in clips if c.audio is None]
    share = len(missing) / max(len(clips), 1)
    if missing and (share > max_missing or not present):
        first = missing[0]
        message = f"{first.origin}: audio file {first.expected} is listed but absent"
        if len(missing) > 1:
            message += f" (as are {len(missing) - 1} more: {len(missing)} of {len(clips)} clips, {share:.1%}"
            message += f", more than max_missing={max_missing:.0%})" if max_missing else ")"
        raise BenchError(message + hint)
    return Listing(
        Split(split, tuple(c.audio for c in present if c.audio), tuple(c.captions for c in present)),
        tuple(c.origin for c in present),
        tuple(c.name for c in missing),
    )


def list_split(
    path: Path, audio_dir: Path, split: str, ragged: bool = False, max_missing: float = 0.0, hint: str = ""
) -> Listing:
    """Read captions file ``path`` and find each clip's audio in ``audio_dir``
    (:func:`find_audio`); absent audio is handled by :func:`select_present`."""
    clips = []
    for row in read_caption_rows(path, ragged):
        origin = f"{path}, line {row.line}"
        audio = find_audio(audio_dir, row.name, origin)
        clips.append(Listed(origin, row.name, audio, audio_dir / row.name.strip(), row.captions))
    return select_present(split, clips, max_missing, hint)


def read_captions_csv(path: Path, audio_dir: Path, split: str, ragged: bool = False) -> Split:
    """Read a Clotho captions CSV (``file_name,caption_1,…,caption_N``) and check every row
    (:func:`read_caption_rows`); every listed audio file must be present in ``audio_dir``.

    Empty captions, duplicate file names, missing columns and listed-but-absent audio files
    are errors that name the file and row: a silently smaller dataset would make
    numbers incomparable.
    """
    return list_split(path, audio_dir, split, ragged).split


@dataclass(frozen=True)
class AudioFacts:
    """What probing an audio file found: its length and, when asked for, a digest of its bytes."""

    path: Path
    frames: int
    sample_rate: int
    sha256: str | None = None

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate


#: The longest clip datasets of the user's own audio accept by default (``-D max_seconds``):
#: twice Clotho's longest (30 s). A batch is as long as its longest clip, so one
#: ten-minute recording pads every batch it lands in to ten minutes of frames.
MAX_SECONDS = 60.0
#: What a clip longer than ``max_seconds`` gets (``-D long_clips``).
LONG_CLIPS = ("refuse", "crop")


@dataclass(frozen=True)
class ClipLimit:
    """How long a clip may be. ``refuse`` (the default) stops preparation at the first
    longer clip, naming it: cropping would drop what its captions may describe after the
    cut, so it is the user's call. ``crop`` reads the first ``max_seconds`` of it."""

    max_seconds: float = MAX_SECONDS
    long_clips: str = "refuse"

    @classmethod
    def from_options(cls, max_seconds: Any, long_clips: Any) -> "ClipLimit":
        """The limit a dataset's options set; a bad value is an error naming the option (the
        harness names the dataset)."""
        try:
            seconds = float(max_seconds)
        except (TypeError, ValueError):
            seconds = float("nan")
        if not 0 < seconds < float("inf"):
            raise BenchError(f"max_seconds must be a positive number of seconds, got {max_seconds!r}")
        if long_clips not in LONG_CLIPS:
            raise unknown_name("long_clips choice", str(long_clips), LONG_CLIPS)
        return cls(seconds, str(long_clips))

    def options(self) -> dict[str, Any]:
        return {"max_seconds": self.max_seconds, "long_clips": self.long_clips}

    @property
    def crop_seconds(self) -> float | None:
        """Where clips are cut (:attr:`Split.crop_seconds`), when they are."""
        return self.max_seconds if self.long_clips == "crop" else None

    def longer(self, facts: Sequence["AudioFacts"]) -> list["AudioFacts"]:
        return [fact for fact in facts if fact.seconds > self.max_seconds]

    def report(self, split: str, cropped: int, clips: int) -> list[str]:
        """The line ``bench prepare`` prints for a split whose long clips were cropped."""
        if not cropped:
            return []
        return [f"{split}: {cropped} of {clips} clips are longer than max_seconds={self.max_seconds:g} and cropped "
                f"to their first {self.max_seconds:g} s (long_clips=crop)"]


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> list[int]:
    """Size, mtime and ctime: what changes when a file is written (ctime even when a tool
    restores the mtime), read with one stat."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns]


def _records(marker: Path) -> dict[str, Any]:
    try:
        known = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _save_records(marker: Path, known: dict[str, Any], passed: dict[str, Any], complete: bool) -> None:
    """Keep what was checked; a partial pass (an error stopped it) adds to what was known."""
    if passed and passed != known:
        write_json(marker, passed if complete else {**known, **passed})


def check_audio(
    files: Sequence[tuple[Path, str]], marker: Path, digest: bool = False, limit: ClipLimit | None = None
) -> list[AudioFacts]:
    """Check before any expensive work that every file opens as audio and holds samples
    (its header read with soundfile); an error names the file and ``where`` it was listed.
    Returns each file's length, and with ``digest`` the SHA-256 of its bytes. A clip longer
    than ``limit`` allows is an error naming it, its length and the options, unless the
    limit crops.

    What was found is recorded in ``marker`` with each file's size, mtime and ctime, so an
    unchanged file is not opened again on the next run (a stat per file).
    """
    import soundfile

    known = _records(marker)
    passed: dict[str, Any] = {}
    facts = []
    try:
        for path, where in files:
            stamp = _stamp(path)
            key = str(path)
            entry = known.get(key)
            if not (isinstance(entry, dict) and entry.get("stamp") == stamp and (entry.get("sha256") or not digest)):
                try:
                    info = soundfile.info(str(path))
                except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
                    reason = " ".join(str(exc).split())
                    raise BenchError(f"{where}: audio file {path} does not decode ({reason})") from None
                if info.frames <= 0:
                    raise BenchError(f"{where}: audio file {path} holds no samples")
                entry = {"stamp": stamp, "frames": int(info.frames), "rate": int(info.samplerate)}
                if digest:
                    entry["sha256"] = file_sha256(path)
            passed[key] = entry
            facts.append(AudioFacts(path, entry["frames"], entry["rate"], entry.get("sha256")))
    finally:
        _save_records(marker, known, passed, len(passed) == len(files))
    if limit is not None and limit.long_clips == "refuse":
        longer = limit.longer(facts)
        if longer:
            first, where = longer[0], files[facts.index(longer[0])][1]
            more = f" (as are {len(longer) - 1} more of its {len(facts)} clips)" if len(longer) > 1 else ""
            raise BenchError(
                f"{where}: audio file {first.path} is {first.seconds:.1f} s long, more than max_seconds={limit.max_seconds:g}"
                f"{more}; -D long_clips=crop uses the first {limit.max_seconds:g} s of such clips, -D max_seconds=SECONDS "
                "raises the limit (a batch is as long as its longest clip)"
            )
    return facts


def clips_fingerprint(facts: Sequence[AudioFacts], captions: Sequence[Sequence[str]]) -> str:
    """The content of a split's clips, in order: each file's bytes (``facts`` from
    :func:`check_audio` with ``digest``) and its captions. Names and where the files are do
    not enter: a copied or moved folder holds the same data."""
    return stable_hash([[fact.sha256, list(clip)] for fact, clip in zip(facts, captions)], 16)


def files_fingerprint(root: Path, marker: Path) -> str:
    """The content of every file under ``root`` (hidden ones aside), by relative path and
    SHA-256; digests are kept in ``marker`` and a file is read again only when its size,
    mtime or ctime changed."""
    known = _records(marker)
    passed: dict[str, Any] = {}
    contents = []
    files = sorted(p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))
    for path in files:
        stamp, key = _stamp(path), str(path)
        entry = known.get(key)
        if not (isinstance(entry, dict) and entry.get("stamp") == stamp and entry.get("sha256")):
            entry = {"stamp": stamp, "sha256": file_sha256(path)}
        passed[key] = entry
        contents.append([path.relative_to(root).as_posix(), entry["sha256"]])
    _save_records(marker, known, passed, True)
    return stable_hash(contents, 16)


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

    def audio_folder(self, data_dir: Path, split: str) -> Path:
        """Where ``split``'s audio files are (``<data_dir>/<split>/`` unless the files are read elsewhere)."""
        return data_dir / split

    def load_split(self, data_dir: Path, split: str) -> Split:
        return read_captions_csv(captions_csv(data_dir, split), self.audio_folder(data_dir, split), split, self.ragged_captions)


@dataclass
class PreparedDataset:
    """A dataset plugin bound to its options and its directory on disk.

    ``key`` names the dataset in results: the plugin name, then the protocol's name when it
    is not the default one, then a hash of any other non-default options, then
    ``-data-`` and the start of the content's ``fingerprint`` for datasets whose options do
    not fix their content (:meth:`Dataset.fingerprint`): results on other data never share a key.
    ``storage_key`` names the data directory and the feature caches: it changes only with
    the options that change the files, so protocols share downloads and features.
    """

    name: str
    key: str
    storage_key: str
    plugin: Dataset
    data_dir: Path
    fingerprint: str | None = None

    @property
    def label(self) -> str:
        """How messages name the plugin: ``dataset 'hf'``."""
        from benchmark.registry import label

        return label("datasets", self.name)

    def prepare(self) -> None:
        """Download or generate the files and verify them (the plugin's ``prepare``)."""
        with naming(self.label):
            self.plugin.prepare(self.data_dir)

    def report(self) -> list[str]:
        """The plugin's lines on what ``prepare`` found (skipped or cropped clips)."""
        with naming(self.label):
            return self.plugin.report(self.data_dir)

    def relevance(self, split: Split) -> Relevance:
        """Which clips count as relevant to the captions of ``split`` beyond their own."""
        from benchmark.queries import Relevance

        with naming(self.label):
            judged = self.plugin.relevance(self.data_dir, split)
            return Relevance.of(split, self.plugin.duplicate_captions_relevant, judged)

    def query_sets(self, split: Split) -> dict[str, list[tuple[str, list[str]]]]:
        """The dataset's own query sets on ``split`` (:meth:`Dataset.query_sets`)."""
        with naming(self.label):
            return self.plugin.query_sets(self.data_dir, split)

    def caption_split(self, role: str) -> Split:
        """The files and captions of the split playing ``role``, with nothing prepared but
        what they need (:meth:`Dataset.caption_split`)."""
        with naming(self.label):
            return Split.union([self.plugin.caption_split(self.data_dir, name)
                                for name in self.plugin.protocol[role].split("+")])

    def parts(self, role: str) -> list[Split]:
        """The splits that together play ``role`` (train, validation, test)."""
        with naming(self.label):
            return [self.plugin.load_split(self.data_dir, name) for name in self.plugin.protocol[role].split("+")]

    def split(self, role: str) -> Split:
        """The split playing ``role`` in the dataset's protocol (a union where it names several)."""
        return Split.union(self.parts(role))


def _suffix(options: dict[str, Any], defaults: dict[str, Any]) -> str:
    return "" if options == defaults else f"-{stable_hash(options, 8)}"


@dataclass(frozen=True)
class _Defaults:
    """What a dataset plugin's options are when none is given, as its instances report them."""

    storage: dict[str, Any]
    protocol_name: str
    others: dict[str, Any]

    @classmethod
    def of(cls, plugin: Dataset) -> _Defaults:
        others = {k: v for k, v in plugin.options().items() if k != "protocol"}
        return cls(plugin.storage_options(), plugin.protocol_name, others)


@functools.lru_cache(maxsize=None)
def _defaults(factory: Callable[..., Dataset], name: str) -> _Defaults:
    """The defaults of a dataset plugin, from one instance built without options per process."""
    from benchmark.registry import instantiate, label

    return _Defaults.of(instantiate(factory, {}, label("datasets", name), "--dataset-option"))


def open_dataset(manager: PluginManager, name: str, options: dict[str, Any], data_root: Path) -> PreparedDataset:
    """Instantiate dataset plugin ``name`` with ``options`` and locate its data directory."""
    from benchmark.registry import instantiate, label

    factory, what = manager.load("datasets", name), label("datasets", name)
    plugin = instantiate(factory, options, what, "--dataset-option")
    asked, default = _Defaults.of(plugin), _defaults(factory, name)
    storage_key = name + _suffix(asked.storage, default.storage)
    key = name
    if asked.protocol_name != default.protocol_name:
        key += f"-{asked.protocol_name}"
    key += _suffix(asked.others, default.others)
    data_dir = data_root / storage_key
    with naming(what):
        fingerprint = plugin.fingerprint(data_dir)
    if fingerprint:
        key += f"-data-{fingerprint[:8]}"
        _note_change(data_dir, key, fingerprint)
    return PreparedDataset(name, key, storage_key, plugin, data_dir, fingerprint)


def _note_change(data_dir: Path, key: str, fingerprint: str) -> None:
    """Say so when a dataset's content changed since it was last opened: its results and
    features are then computed anew, under a new key."""
    marker = data_dir / ".fingerprint.json"
    last = _records(marker)
    if last.get("fingerprint") not in (None, fingerprint):
        print(f"dataset {last.get('key')}: its content changed since it was last used; results and features "
              f"on the new content go under {key}", file=sys.stderr, flush=True)
    if last.get("fingerprint") != fingerprint:
        write_json(marker, {"key": key, "fingerprint": fingerprint})
