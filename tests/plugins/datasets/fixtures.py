"""Fixture releases laid out exactly like the official ones: the same file names, CSV
columns and encodings (UTF-8 captions, ISO-8859-1 metadata) and 7z audio archives holding
a ``<split>/`` folder, with tiny WAV files in place of the real recordings."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import soundfile


def prepared(name: str, data_root: Path, **options):
    """Dataset plugin ``name`` with ``options``, prepared under ``data_root`` (what `bench prepare` does)."""
    from benchmark.data import open_dataset
    from benchmark.plugins import get_plugin_manager

    dataset = open_dataset(get_plugin_manager(), name, options, data_root)
    dataset.prepare()
    return dataset


def write_wav(path: Path, seconds: float = 0.05, rate: int = 44100, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = 0.1 * np.random.default_rng(seed).standard_normal(max(int(seconds * rate), 1))
    soundfile.write(str(path), audio.astype(np.float32), rate, subtype="PCM_16")


def clip_name(split: str, index: int) -> str:
    # Real Clotho names have spaces, commas and capitals.
    return f"{split.title()} recording, take {index:04d}.wav"


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def build_clotho_release(root: Path, sizes: dict[str, int], leaked: int = 2, seconds: float = 0.05) -> dict[str, str]:
    """Write a release's files into ``root``; return ``file name → md5``. The last
    ``leaked`` clips of every split after the first reuse Freesound sound ids of the first
    split, as happens in Clotho."""
    import py7zr

    root.mkdir(parents=True, exist_ok=True)
    work = root / ".work"
    checksums = {}
    first = next(iter(sizes))
    for s, (split, size) in enumerate(sizes.items()):
        names = [clip_name(split, i) for i in range(size)]
        for i, name in enumerate(names):
            write_wav(work / split / name, seconds, seed=1000 * s + i)
        archive = root / f"clotho_audio_{split}.7z"
        with py7zr.SevenZipFile(archive, "w") as z:
            z.write(work / split, split)
            for name in names:
                z.write(work / split / name, f"{split}/{name}")
        captions = root / f"clotho_captions_{split}.csv"
        with captions.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_name", *[f"caption_{k}" for k in range(1, 6)]])
            for i, name in enumerate(names):
                writer.writerow([name, *[f"A {split} sound, number {i}, heard in take {k}." for k in range(1, 6)]])
        metadata = root / f"clotho_metadata_{split}.csv"
        with metadata.open("w", newline="", encoding="iso-8859-1") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_name", "keywords", "sound_id", "sound_link", "start_end_samples", "manufacturer", "license"])
            for i, name in enumerate(names):
                sound = 10_000 * (s + 1) + i
                if split != first and i >= size - leaked:  # the same Freesound sound as a clip of the first split
                    sound = 10_000 + (s - 1) * leaked + i - (size - leaked)
                writer.writerow([name, "café;rue;pluie", sound, f"https://freesound.org/s/{sound}", "[0, 100]", "user", "CC BY"])
        for path in (archive, captions, metadata):
            checksums[path.name] = md5(path)
    import shutil

    shutil.rmtree(work)
    return checksums


#: (container, sample rate, channels) cycled over the clips of the user-data tests.
MIXED = (("WAV", 16000, 1), ("FLAC", 22050, 2), ("OGG", 44100, 1), ("WAV", 44100, 2), ("FLAC", 16000, 1), ("OGG", 22050, 2))
EXTENSION = {"WAV": ".wav", "FLAC": ".flac", "OGG": ".ogg"}


def write_audio(path: Path, index: int, seconds: float = 0.6, seed: int = 0) -> None:
    """Clip ``index`` of a user-data test: container, rate and channels from :data:`MIXED`
    (the container is given explicitly, so a ``.wav`` name may hold FLAC or OGG data)."""
    container, rate, channels = MIXED[index % len(MIXED)]
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    tone = np.sin(2 * np.pi * (200 + 50 * (seed % 13)) * t)[:, None] * np.ones(channels)
    audio = 0.3 * tone + 0.05 * rng.standard_normal((len(t), channels))
    soundfile.write(str(path), audio.astype(np.float32), rate, format=container)


def clotho_names(split: str, n: int) -> list[str]:
    """File names as real Clotho's are: HTML entities, spaces, commas, brackets, capitals."""
    shapes = ("Rain &amp; thunder, {s} {i}.wav", "Door creak (old) {s}_{i}.wav", "Kid&#39;s toy [{s}] {i}.wav",
              "Birds, wind &amp; sea {s} {i}.wav")
    return [shapes[i % len(shapes)].format(s=split, i=i) for i in range(n)]


def build_extracted_clotho(root: Path, sizes: dict[str, int], seconds: float = 0.6) -> dict[str, str]:
    """A Clotho copy as a user extracted it: ``root/<split>/`` audio and the CSVs beside
    the folders; return ``file name → md5`` of the CSVs (the archives get dummy entries).

    As in the real release: names with HTML entities, spaces, commas and brackets; ASCII
    captions CSVs with CRLF line ends; one cell with a trailing space the file name lacks
    and one with a leading space the file name has. The audio is named ``.wav`` but holds
    WAV, FLAC or OGG data at 16/22.05/44.1 kHz, mono or stereo (libsndfile reads the
    content). In the metadata, the first clip of every split has the sound_id "Not found",
    the third none, and the last clip of every split after the first reuses a sound of the
    first split (a leak)."""
    root.mkdir(parents=True, exist_ok=True)
    checksums = {}
    first = next(iter(sizes))
    for s, (split, size) in enumerate(sizes.items()):
        cells = clotho_names(split, size)
        files = list(cells)
        cells[1] += " "
        files[1] = cells[1].strip()
        cells[3] = files[3] = " " + cells[3]
        for i, name in enumerate(files):
            write_audio(root / split / name, i, seconds, seed=1000 * s + i)
        captions = root / f"clotho_captions_{split}.csv"
        with captions.open("w", newline="", encoding="ascii") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(["file_name", *[f"caption_{k}" for k in range(1, 6)]])
            for i, cell in enumerate(cells):
                writer.writerow([cell, *[f"A {split} sound, number {i}, heard in take {k}." for k in range(1, 6)]])
        metadata = root / f"clotho_metadata_{split}.csv"
        with metadata.open("w", newline="", encoding="iso-8859-1") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(["file_name", "keywords", "sound_id", "sound_link", "start_end_samples", "manufacturer", "license"])
            for i, cell in enumerate(cells):
                sound = {0: "Not found", 2: ""}.get(i, str(10_000 * (s + 1) + i))
                if split != first and i == size - 1:
                    sound = str(10_000 + 4 + s)  # clip 4 + s of the first split
                writer.writerow([cell.strip(), "café;rue", sound, "", "[0, 100]", "user", "CC BY"])
        for path in (captions, metadata):
            checksums[path.name] = md5(path)
        checksums[f"clotho_audio_{split}.7z"] = "0" * 32  # never downloaded when adopting
    return checksums


def refused_before_extraction(name: str, option: str, tmp_path: Path, capsys, **options) -> str:
    """Prepare dataset ``name`` (expecting a BenchError), then `bench run` it with ``-D
    option``: the run must end with the same one-line error and nothing extracted. Returns
    the message."""
    import pytest

    from benchmark.cli import main
    from benchmark.errors import BenchError

    with pytest.raises(BenchError) as error:
        prepared(name, tmp_path / "data", **options)
    message = str(error.value)
    assert "\n" not in message
    cache = tmp_path / "cache"
    code = main(["run", "--system", "ranking", "--dataset", name, "-D", option, "--data-dir", str(tmp_path / "data"),
                 "--cache-dir", str(cache), "--output", str(tmp_path / "results"),
                 "--set", "experts=[{name: logmel, frame_rate: 2.0}]", "--set", "schedule.epochs=1"])
    assert code == 2 and capsys.readouterr().err.strip().splitlines()[-1] == f"error: {message}"
    assert not (cache / "experts").exists() and not (cache / "text").exists()  # nothing was extracted
    return message


class Probe:
    """A weight-free expert for dataset tests: one frame per clip, ``[seconds, mean, first
    sample]`` of the waveform it was handed, so a test sees which audio an extraction read
    and how much of it."""

    sample_rate = 16000
    dim = 3
    batch_size = 4
    device = "cpu"

    def settings(self) -> dict:
        return {"probe": 1}

    def embed(self, waveforms):
        return [np.array([[len(w) / self.sample_rate, float(w.mean()), float(w[0])]], dtype=np.float32) for w in waveforms]


def probed(dataset, role: str, cache: Path):
    """The :class:`Probe` features of the split playing ``role``, through the feature cache
    (keyed as a run keys them)."""
    from benchmark.features import expert_features

    return expert_features("probe", Probe(), dataset.storage_key, dataset.split(role), cache)


def build_annotations(path: Path, file_names: list[str], captions: list[list[str]]) -> str:
    """A DCASE 2025 annotations file (``query,audio_filenames``, a Python list per row) over
    a split's clips: clip ``i``'s first caption lists clip ``i`` and the next one, but the
    last query lists only another clip, as 46 real queries do. Returns its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(file_names)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query", "audio_filenames"])
        for i in range(n - 1):
            writer.writerow([captions[i][0], repr([file_names[i], file_names[(i + 1) % n]])])
        writer.writerow([captions[n - 1][0], repr([file_names[0]])])
    return hashlib.sha256(path.read_bytes()).hexdigest()
