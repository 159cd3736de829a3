"""The ``freesound_mined`` dataset: the sounds a mining manifest keeps (section 2 of the
DCASE 2022 report "Take it easy"), their previews downloaded and their Freesound
descriptions as captions, one per clip.

``bench mine freesound`` writes the manifest (``$BENCH_HOME/mined/freesound/manifest.jsonl``
by default, ``-D manifest=PATH`` for another): one kept sound per line, with its
description, license, author, preview URL and page. Preparation downloads every preview
through :func:`benchmark.api.fetch` (resumable, atomic, one lock per file). Freesound
publishes no checksum of its previews, so a download is accepted only when the server
declares an audio type that matches the preview's extension (an HTML page sent with 200
is refused), every byte its ``Content-Length`` announced came (a dropped connection is
resumed, up to three tries, never accepted short; a resume answered from another offset
is started over, never spliced), and it decodes with the harness's audio reader: the
check runs before the download is recorded as verified, so a preview broken on the way
is never kept (one left by an older version, recorded without the check, is checked on
the next preparation and downloaded again). A preview that is gone upstream (404, 410:
the sound was deleted after mining) or that, downloaded whole from its first byte, does
not decode is counted, listed in ``skipped.csv`` and skipped, as AudioCaps skips its
vanished videos, and is not requested again (delete ``.gone.json`` or
``.undecodable.json`` to try them again); any other failure stops preparation with the
URL, and the next run resumes (downloaded previews are kept).

The data directory is in Clotho's layout, shared by every manifest (a sound's preview is
downloaded once, whichever manifest lists it)::

    development/<id>.ogg              the previews (OGG Vorbis or MP3, as the manifest names them;
                                       beside them, each download's <id>.ogg.verified record)
    clotho_captions_development.csv   file_name,caption_1: each kept sound's description
    ATTRIBUTION.md, ATTRIBUTION.csv    every kept sound's author, license and page
    skipped.csv                        the sounds skipped, and why

``development`` holds every kept sound; the protocol trains on ``train`` and validates on
``validation``, a seeded ``validation_share`` of it (the sounds ranked first by a hash of
the seed and their id, so a sound keeps its side when the manifest grows). The test role
plays ``validation`` too: the set is meant for pre-training (``pretrain: {datasets:
[freesound_mined]}``), and a run on it alone scores the clips that picked its checkpoint.

The result key ends with ``-data-<hash of the manifest>``, and the splits carry that hash
(the feature cache's key), so results and features of different manifests never mix.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
import urllib.parse
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.api import (BenchError, ClipLimit, ClothoLayoutDataset, ContentError, DownloadError, Progress, RemoteFile,
                           Split, captions_csv, fetch, file_sha256, load_audio, mined_root, read_json_lines, unknown_name,
                           write_captions_csv, write_json, write_text)

#: The one split on disk; ``train`` and ``validation`` are drawn from it.
DEVELOPMENT = "development"
SPLITS = (DEVELOPMENT, "train", "validation")
#: Media types a preview's server may declare, by the preview's extension.
MEDIA_TYPES = {".ogg": ("audio/ogg", "application/ogg", "audio/vorbis"), ".mp3": ("audio/mpeg", "audio/mp3")}
#: HTTP statuses of a preview that is gone upstream: counted and skipped, never retried.
GONE = (404, 410)
#: Tries per preview when the connection drops (each resumes what came).
ATTEMPTS = 3
#: What the manifest must give for every sound, and its type.
FIELDS = {"id": int, "description": str, "license": str, "author": str, "preview": str, "url": str}
#: The record of the last preparation, in the data directory.
LAYOUT = ".layout.json"
#: Decoding verdicts by file name, size and mtime, in the data directory.
DECODES = ".decodes.json"
#: Preview URLs that answered 404/410, in the data directory (not requested again).
GONE_FILE = ".gone.json"
#: Preview URLs whose whole download did not decode, with the reason, in the data directory (not requested again).
UNDECODABLE_FILE = ".undecodable.json"
#: The size cap of a preview: a 128 kbit/s preview of a 4-hour recording (previews are a few MB).
MAX_PREVIEW_BYTES = 256 << 20
DUTY = ("Sounds under a Creative Commons Attribution license (CC BY, CC BY-NC) or Sampling+ must be credited "
        "(author, sound page and license, as listed below) whenever you share these files or anything made from "
        "them; CC BY-NC sounds may not be used commercially, and CC0 sounds need no credit.")


@dataclass(frozen=True)
class Sound:
    """One kept sound of the manifest, with the line that listed it."""

    id: int
    description: str
    license: str
    author: str
    preview: str
    url: str
    line: int

    @property
    def suffix(self) -> str:
        return Path(urllib.parse.urlsplit(self.preview).path).suffix.lower()

    @property
    def file_name(self) -> str:
        return f"{self.id}{self.suffix}"

    def remote(self) -> RemoteFile:
        """The preview as a download: no checksum, so its content type, length and decoding
        (:func:`decodes`) are what is checked."""
        return RemoteFile(self.file_name, self.preview, content_types=MEDIA_TYPES[self.suffix], max_bytes=MAX_PREVIEW_BYTES)


def decodes(path: Path) -> None:
    """Raise a :class:`BenchError` unless ``path`` decodes, whole, to finite samples with the
    harness's reader (at the file's own rate): the check a preview passes before its download
    is recorded as verified."""
    import soundfile

    try:
        rate = soundfile.info(str(path)).samplerate
    except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
        raise BenchError(f"cannot read audio file {path}: {' '.join(str(exc).split())}") from None
    load_audio(path, rate)


def read_manifest(path: Path) -> list[Sound]:
    """The sounds of a manifest (JSONL, one kept sound per line), checked: a line that is not
    a JSON object, lacks a field, has one of the wrong type, an empty description, a preview
    that is not an http(s) .ogg or .mp3 URL, or a sound id seen before is an error naming
    the file and line. Descriptions are kept with their whitespace collapsed to single spaces."""
    sounds: list[Sound] = []
    seen: dict[int, int] = {}
    for line, record in read_json_lines(path, f"manifest {path}"):
        where = f"manifest {path}, line {line}"
        for name, kind in FIELDS.items():
            value = record.get(name)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise BenchError(f"{where}: field {name!r} must be a {kind.__name__}, found {value!r}")
        sound = Sound(record["id"], " ".join(record["description"].split()), record["license"], record["author"],
                      record["preview"], record["url"], line)
        if not sound.description:
            raise BenchError(f"{where}: sound {sound.id} has an empty description (a caption is needed)")
        if urllib.parse.urlsplit(sound.preview).scheme not in ("http", "https") or sound.suffix not in MEDIA_TYPES:
            raise BenchError(f"{where}: preview {sound.preview!r} is not an http(s) URL of an .ogg or .mp3 file")
        if sound.id in seen:
            raise BenchError(f"{where}: sound {sound.id} is listed again (first on line {seen[sound.id]})")
        seen[sound.id] = line
        sounds.append(sound)
    if not sounds:
        raise BenchError(f"manifest {path} lists no sounds")
    return sounds


def license_name(url: str) -> str:
    """``CC BY 4.0``, ``CC0 1.0``, ``Sampling+ 1.0`` for a Creative Commons license URL; the
    URL itself for anything else."""
    found = re.search(r"creativecommons\.org/(?:licenses|publicdomain)/([a-z+-]+)/([\d.]+)", url.lower())
    if not found:
        return url
    kind, version = found.groups()
    if kind == "zero":
        return f"CC0 {version}"
    if kind == "sampling+":
        return f"Sampling+ {version}"
    return f"CC {kind.upper()} {version}"


def write_attribution(data_dir: Path, sounds: list[Sound]) -> None:
    """``ATTRIBUTION.md`` (the duty to credit, then every sound) and ``ATTRIBUTION.csv``."""
    names = [license_name(s.license) for s in sounds]
    counts = {name: names.count(name) for name in sorted(set(names))}
    cell = lambda text: text.replace("|", "\\|")  # noqa: E731 - a Markdown table cell
    lines = [
        "# Attribution", "",
        f"The {len(sounds)} sounds of this dataset come from Freesound (https://freesound.org), each shared by its "
        "author under the license named below.", "",
        DUTY, "",
        "Licenses: " + ", ".join(f"{n} {name}" for name, n in counts.items()) + ".", "",
        "| File | Sound | Author | License |", "| --- | --- | --- | --- |",
        *[f"| {s.file_name} | {s.url} | {cell(s.author)} | [{name}]({s.license}) |" for s, name in zip(sounds, names)],
    ]
    write_text(data_dir / "ATTRIBUTION.md", "\n".join(lines) + "\n")
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["file_name", "sound_id", "author", "license", "license_url", "url"])
    writer.writerows([s.file_name, s.id, s.author, name, s.license, s.url] for s, name in zip(sounds, names))
    write_text(data_dir / "ATTRIBUTION.csv", table.getvalue())


def _stamp(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


class FreesoundMined(ClothoLayoutDataset):
    """The previews and descriptions of a mining manifest's sounds (module docstring).

    Options: ``manifest`` (default ``$BENCH_HOME/mined/freesound/manifest.jsonl``),
    ``validation_share`` (0.05) and ``validation_seed`` (0) of the holdout, ``max_seconds``
    (30: longer previews are read up to it, as Clotho's clips are 15-30 s) and ``workers``
    (4 downloads at once; part of no key).
    """

    protocol = {"train": "train", "validation": "validation", "test": "validation"}
    protocol_name = "holdout"

    def __init__(
        self,
        manifest: str | None = None,
        validation_share: float = 0.05,
        validation_seed: int = 0,
        max_seconds: float = 30.0,
        workers: int = 4,
    ) -> None:
        # Resolved now, so the path recorded is the one read; the default is found when used.
        self.manifest = str(Path(str(manifest)).expanduser().resolve()) if manifest else None
        if not 0.0 < float(validation_share) < 1.0:
            raise BenchError(f"validation_share must be between 0 and 1, got {validation_share}")
        if int(workers) < 1:
            raise BenchError(f"workers must be 1 or more, got {workers}")
        self.validation_share, self.validation_seed, self.workers = float(validation_share), int(validation_seed), int(workers)
        self.limit = ClipLimit.from_options(max_seconds, "crop")
        self._layout: dict[str, Any] = {}  # what the last preparation found (LAYOUT)

    # -- options and identity ------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The holdout and the crop; the manifest's content enters the key as the fingerprint."""
        return {"validation_share": self.validation_share, "validation_seed": self.validation_seed,
                "max_seconds": self.limit.max_seconds}

    def storage_options(self) -> dict[str, Any]:
        return {}  # one data directory: previews are kept by sound id for every manifest

    def manifest_path(self) -> Path:
        return Path(self.manifest) if self.manifest else mined_root() / "freesound" / "manifest.jsonl"

    def _manifest_sha256(self) -> str:
        path = self.manifest_path()
        if not path.is_file():
            raise BenchError(
                f"manifest {path} not found: run `bench mine freesound` (with FREESOUND_TOKEN set, or -O dump=FILE) "
                "to write it, or pass -D manifest=PATH"
            )
        return file_sha256(path)

    def fingerprint(self, data_dir: Path) -> str:
        """The manifest's content (its SHA-256, computed once per size and mtime)."""
        return self._manifest_sha256()[:16]

    def source(self) -> dict[str, Any]:
        source: dict[str, Any] = {
            "manifest": str(self.manifest_path()),
            "manifest_sha256": self._layout.get("manifest_sha256") or self._manifest_sha256(),
            "checksums": "none published: previews checked by content type, length and decoding",
        }
        if self._layout:
            source.update({k: self._layout[k] for k in ("kept", "gone_upstream", "undecodable")})
        return source

    # -- preparation ---------------------------------------------------------------------
    def prepare(self, data_dir: Path) -> None:
        """Download every preview not yet here, skip those gone upstream or undecodable, and
        write Clotho's layout, the attribution files and ``skipped.csv``."""
        sha = self._manifest_sha256()
        sounds = read_manifest(self.manifest_path())
        folder = data_dir / DEVELOPMENT
        folder.mkdir(parents=True, exist_ok=True)
        gone, broken = self._download(sounds, data_dir)
        present = [s for s in sounds if s.preview not in gone and s.preview not in broken]
        seconds = self._decode(present, data_dir)
        kept = [s for s in present if seconds[s.file_name] is not None]
        undecodable = [s for s in sounds if s.preview in broken] + [s for s in present if seconds[s.file_name] is None]
        if len(kept) < 2:
            raise BenchError(
                f"only {len(kept)} of the {len(sounds)} sounds of manifest {self.manifest_path()} could be kept "
                f"({len(gone)} gone upstream, {len(undecodable)} undecodable; list in "
                f"{data_dir / 'skipped.csv'}): a train and a validation split need at least 2"
            )
        self._write_skipped(data_dir, [(s, f"gone upstream (HTTP {gone[s.preview]})") for s in sounds if s.preview in gone]
                            + [(s, "does not decode") for s in undecodable])
        write_captions_csv(captions_csv(data_dir, DEVELOPMENT), [s.file_name for s in kept], [(s.description,) for s in kept])
        write_attribution(data_dir, kept)
        longer = sum(1 for s in kept if seconds[s.file_name] > self.limit.max_seconds)
        self._layout = {"manifest_sha256": sha, "listed": len(sounds), "kept": len(kept),
                        "gone_upstream": len(gone), "undecodable": len(undecodable),
                        "longer_than_max_seconds": longer}
        write_json(data_dir / LAYOUT, self._layout)  # last: an interrupted preparation is done again

    def _download(self, sounds: list[Sound], data_dir: Path) -> tuple[dict[str, int], dict[str, str]]:
        """Fetch every preview not gone upstream nor known not to decode; returns those (URL →
        status, URL → why it does not decode), which are remembered and not requested again.
        The first failure of another kind stops the downloads (in-flight ones finish) and is
        raised."""
        gone: dict[str, int] = {url: int(status) for url, status in _read_json(data_dir / GONE_FILE).items()}
        broken: dict[str, str] = {url: str(why) for url, why in _read_json(data_dir / UNDECODABLE_FILE).items()}
        known = (dict(gone), dict(broken))
        wanted = [s for s in sounds if s.preview not in gone and s.preview not in broken]
        here = {s.file_name for s in wanted if (data_dir / DEVELOPMENT / s.file_name).exists()}  # moved there only once verified
        try:
            with Progress(len(wanted), "Freesound previews", unit="sound", initial=len(here)) as bar, \
                    ThreadPoolExecutor(self.workers) as pool:
                futures = {pool.submit(self._fetch, s, data_dir): s for s in wanted}
                try:
                    for future in as_completed(futures):
                        status = future.result()  # the first failure stops the downloads
                        if isinstance(status, int):
                            gone[futures[future].preview] = status
                        elif status is not None:
                            broken[futures[future].preview] = status
                        if futures[future].file_name not in here:
                            bar.update(1)
                except BaseException:
                    pool.shutdown(wait=True, cancel_futures=True)  # in-flight downloads finish, queued ones never start
                    raise
        finally:
            if gone != known[0]:
                write_json(data_dir / GONE_FILE, gone)
            if broken != known[1]:
                write_json(data_dir / UNDECODABLE_FILE, broken)
        return ({s.preview: gone[s.preview] for s in sounds if s.preview in gone},
                {s.preview: broken[s.preview] for s in sounds if s.preview in broken})

    def _fetch(self, sound: Sound, data_dir: Path) -> int | str | None:
        """The preview in place and decoding (None), the status that says it is gone upstream,
        or why its whole download does not decode (it was deleted)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                fetch(sound.remote(), data_dir / DEVELOPMENT / sound.file_name, what="Freesound preview", quiet=True,
                      hint=f" (sound {sound.id}, manifest line {sound.line})", check=decodes)
                return None
            except ContentError as exc:
                return str(exc)
            except DownloadError as exc:
                if exc.status in GONE:
                    return exc.status
                if exc.status is not None or attempt == ATTEMPTS:
                    raise
        return None  # not reached: the last attempt returns or raises

    def _decode(self, sounds: list[Sound], data_dir: Path) -> dict[str, float | None]:
        """Each preview's length in seconds, None for one that does not decode or holds no
        samples; verdicts are kept by size and mtime, so a preview is opened once."""
        import soundfile

        known = _read_json(data_dir / DECODES)
        verdicts: dict[str, Any] = {}
        seconds: dict[str, float | None] = {}
        for sound in sounds:
            path = data_dir / DEVELOPMENT / sound.file_name
            stamp = _stamp(path)
            entry = known.get(sound.file_name)
            if not (isinstance(entry, dict) and entry.get("stamp") == stamp):
                try:
                    info = soundfile.info(str(path))
                    entry = {"stamp": stamp, "seconds": info.frames / info.samplerate if info.frames > 0 else None}
                except Exception as exc:  # noqa: BLE001 - libsndfile raises several types
                    entry = {"stamp": stamp, "seconds": None, "error": " ".join(str(exc).split())}
            verdicts[sound.file_name] = entry
            seconds[sound.file_name] = entry["seconds"]
        if verdicts != {k: known.get(k) for k in verdicts}:
            write_json(data_dir / DECODES, {**known, **verdicts})
        return seconds

    @staticmethod
    def _write_skipped(data_dir: Path, skipped: list[tuple[Sound, str]]) -> None:
        table = io.StringIO()
        writer = csv.writer(table)
        writer.writerow(["sound_id", "reason", "preview", "url", "manifest_line"])
        writer.writerows([s.id, reason, s.preview, s.url, s.line] for s, reason in sorted(skipped, key=lambda x: x[0].line))
        write_text(data_dir / "skipped.csv", table.getvalue())

    # -- splits --------------------------------------------------------------------------
    def _prepared(self, data_dir: Path) -> dict[str, Any]:
        """What preparation recorded for this manifest; an error when it was for another."""
        sha = self._manifest_sha256()
        if self._layout.get("manifest_sha256") != sha:
            self._layout = _read_json(data_dir / LAYOUT)
        if self._layout.get("manifest_sha256") != sha:
            raise BenchError(
                f"{data_dir} is not prepared for manifest {self.manifest_path()} (it changed, or another "
                "manifest was prepared since); run `bench prepare` for it"
            )
        return self._layout

    def load_split(self, data_dir: Path, split: str) -> Split:
        if split not in SPLITS:
            raise unknown_name("freesound_mined split", split, SPLITS)
        layout = self._prepared(data_dir)
        development = dataclasses.replace(super().load_split(data_dir, DEVELOPMENT),
                                          fingerprint=layout["manifest_sha256"][:16], crop_seconds=self.limit.crop_seconds)
        if split == DEVELOPMENT:
            return development
        held_out = set(self._holdout([path.stem for path in development.audio_paths]))
        chosen = [i for i, path in enumerate(development.audio_paths) if (path.stem in held_out) == (split == "validation")]
        return development.subset(split, chosen)

    def _holdout(self, ids: list[str]) -> list[str]:
        """The validation sounds: the ``validation_share`` of ``ids`` (at least one, never all)
        ranked first by the SHA-256 of the seed and the id."""
        count = min(max(round(self.validation_share * len(ids)), 1), len(ids) - 1)
        rank = lambda sound_id: hashlib.sha256(f"{self.validation_seed}:{sound_id}".encode()).hexdigest()  # noqa: E731
        return sorted(ids, key=rank)[:count]

    def report(self, data_dir: Path) -> list[str]:
        """Three lines: the sounds kept (and where their attribution is), those gone upstream,
        those that do not decode; a fourth when long previews are cropped."""
        layout = self._prepared(data_dir)
        listed, skipped = layout["listed"], data_dir / "skipped.csv"
        return [
            f"kept: {layout['kept']} of the {listed} sounds of manifest {self.manifest_path()}; their authors must be "
            f"credited when the data is shared ({data_dir / 'ATTRIBUTION.md'})",
            f"gone upstream: {layout['gone_upstream']} previews answered 404/410 (deleted since mining) and are skipped "
            f"(listed in {skipped})",
            f"undecodable: {layout['undecodable']} previews do not decode and are skipped (listed in {skipped})",
            *self.limit.report(DEVELOPMENT, layout["longer_than_max_seconds"], layout["kept"]),
        ]
