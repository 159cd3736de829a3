"""The `folder` dataset: your own audio and captions in Clotho's layout, read in place."""

from __future__ import annotations

import csv
import json
import os
import re

import numpy as np
import pytest
import soundfile

from benchmark.cli import main
from benchmark.data import open_dataset
from benchmark.errors import BenchError
from benchmark.plugins import get_plugin_manager
from tests.plugins.datasets.fixtures import (EXTENSION, MIXED, clotho_names, prepared, probed, refused_before_extraction,
                                            write_audio)

SIZES = {"development": 12, "validation": 4, "evaluation": 4}
HEADER = ["file_name", "caption_1", "caption_2", "caption_3"]
#: A run fast enough for a test: the weight-free expert, one epoch, small batches.
FAST = ["--system", "ranking", "--set", "experts=[{name: logmel, frame_rate: 2.0}]", "--set", "schedule.epochs=1",
        "--set", "batch_size=4"]
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg"}


def write_rows(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:  # csv's default CRLF line ends, as Clotho's
        csv.writer(handle).writerows([HEADER, *rows])


def read_rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))[1:]


def build_folder(root, sizes=SIZES):
    """Split folders of WAV, FLAC and OGG files at 16/22.05/44.1 kHz, mono and stereo, with
    Clotho-like names and 1-3 captions per clip (trailing cells left empty)."""
    for s, (split, n) in enumerate(sizes.items()):
        rows = []
        for i, name in enumerate(clotho_names(split, n)):
            name = name[:-4] + EXTENSION[MIXED[i % len(MIXED)][0]]
            write_audio(root / split / name, i, seed=100 * s + i)
            k = 1 + i % 3
            rows.append([name, *[f"{split} sound {i}, described {c} ways" for c in range(k)], *[""] * (3 - k)])
        write_rows(root / f"clotho_captions_{split}.csv", rows)
    return root


@pytest.fixture
def folder(tmp_path):
    return build_folder(tmp_path / "my data")


@pytest.mark.slow
def test_bench_run_trains_and_scores_on_a_folder_read_in_place(folder, tmp_path):
    data = tmp_path / "data"
    args = ["run", *FAST, "--dataset", "folder", "-D", f"path={folder}", "--data-dir", str(data),
            "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "results")]
    assert main(args) == 0
    (path,) = (tmp_path / "results").rglob("seed-0.json")
    result = json.loads(path.read_text())
    assert result["dataset"].startswith("folder-") and result["dataset_name"] == "folder"
    assert result["n_clips"] == {"train": 12, "validation": 4, "test": 4}
    assert result["dataset_options"]["path"] == str(folder.resolve())
    assert result["dataset_source"]["path"] == str(folder.resolve()) and result["dataset_source"]["read_in_place"] is True
    assert result["protocol"] == {"name": "standard", "train": "development", "validation": "validation", "test": "evaluation"}
    assert not [p for p in data.rglob("*") if p.suffix in AUDIO_SUFFIXES]  # nothing copied


def test_splits_list_the_files_in_place_with_ragged_captions(folder, tmp_path):
    dataset = prepared("folder", tmp_path / "data", path=str(folder))
    train = dataset.split("train")
    assert len(train) == 12 and len(dataset.split("validation")) == 4 and len(dataset.split("test")) == 4
    assert all(p.parent == folder / "development" and p.is_file() for p in train.audio_paths)
    assert train.file_names[0] == "Rain &amp; thunder, development 0.wav"  # entities kept as the files carry them
    assert train.file_names[2] == "Kid&#39;s toy [development] 2.ogg"
    assert [len(c) for c in train.captions[:4]] == [1, 2, 3, 1]
    assert {soundfile.info(str(p)).samplerate for p in train.audio_paths} == {16000, 22050, 44100}
    assert {soundfile.info(str(p)).channels for p in train.audio_paths} == {1, 2}


def test_protocol_splits_are_options(folder, tmp_path):
    (folder / "development").rename(folder / "train")
    (folder / "clotho_captions_development.csv").rename(folder / "clotho_captions_train.csv")
    with pytest.raises(BenchError, match=r"unknown split of folder .* 'development'.* Available: evaluation, train, validation"):
        prepared("folder", tmp_path / "data", path=str(folder))
    dataset = prepared("folder", tmp_path / "data", path=str(folder), train="train+validation")
    assert len(dataset.split("train")) == 16 and dataset.split("train").name == "train+validation"


def test_each_folder_has_its_own_result_key(folder, tmp_path, monkeypatch):
    other = build_folder(tmp_path / "other", {"development": 2, "validation": 1, "evaluation": 1})
    manager = get_plugin_manager()
    first = open_dataset(manager, "folder", {"path": str(folder)}, tmp_path)
    second = open_dataset(manager, "folder", {"path": str(other)}, tmp_path)
    assert first.key.startswith("folder-") and second.key.startswith("folder-") and first.key != second.key
    assert first.data_dir != second.data_dir
    monkeypatch.chdir(tmp_path)
    assert open_dataset(manager, "folder", {"path": "my data"}, tmp_path).key == first.key  # one folder, one key


def _missing(folder):
    name = read_rows(folder / "clotho_captions_development.csv")[1][0]
    (folder / "development" / name).unlink()
    return name, "line 3"


def _undecodable(folder):
    name = read_rows(folder / "clotho_captions_validation.csv")[2][0]
    (folder / "validation" / name).write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    return name, "line 4"


def _empty_caption(folder):
    path = folder / "clotho_captions_evaluation.csv"
    rows = read_rows(path)
    rows[1][1] = "  "
    write_rows(path, rows)
    return path.name, "line 3: empty caption_1"


def _duplicate(folder):
    path = folder / "clotho_captions_development.csv"
    rows = read_rows(path)
    write_rows(path, [*rows, rows[4]])
    return path.name, f"line 14: duplicate file name {rows[4][0]!r}"


def _no_captions_file(folder):
    (folder / "clotho_captions_validation.csv").unlink()
    return "clotho_captions_validation.csv", "split folder"


@pytest.mark.parametrize("spoil", [_missing, _undecodable, _empty_caption, _duplicate, _no_captions_file])
def test_bad_input_is_one_line_naming_the_file_before_any_extraction(folder, tmp_path, capsys, spoil):
    culprit, detail = spoil(folder)
    message = refused_before_extraction("folder", f"path={folder}", tmp_path, capsys, path=str(folder))
    assert culprit in message and detail in message


def test_missing_files_may_be_a_counted_skip(folder, tmp_path):
    name, _ = _missing(folder)
    dataset = prepared("folder", tmp_path / "data", path=str(folder), max_missing=0.1)
    assert len(dataset.split("train")) == 11 and name not in dataset.split("train").file_names
    (line,) = dataset.plugin.report(dataset.data_dir)
    assert line.startswith("development: 1 of 12 listed audio files are absent (8.3%) and skipped")
    assert (dataset.data_dir / "missing-development.txt").read_text() == f"{name}\n"
    assert dataset.plugin.source()["missing_skipped"] == {"development": 1, "evaluation": 0, "validation": 0}
    assert dataset.key != prepared("folder", tmp_path / "data", path=str(folder), max_missing=0.2).key
    (folder / "development" / read_rows(folder / "clotho_captions_development.csv")[5][0]).unlink()
    with pytest.raises(BenchError, match=r"line 3: audio file .* is listed but absent \(as are 1 more: 2 of 12 clips, "
                                         r"16.7%, more than max_missing=10%\); -D max_missing=SHARE skips absent files"):
        prepared("folder", tmp_path / "data", path=str(folder), max_missing=0.1)


def test_the_decoding_check_is_remembered_until_a_file_changes(folder, tmp_path, monkeypatch):
    prepared("folder", tmp_path / "data", path=str(folder))

    def no_opening(path):
        raise RuntimeError(f"opened {path}")

    monkeypatch.setattr(soundfile, "info", no_opening)
    prepared("folder", tmp_path / "data", path=str(folder))  # every file unchanged: none opened
    victim = next((folder / "evaluation").iterdir())
    os.utime(victim, ns=(1, 1))
    with pytest.raises(BenchError, match=f"audio file .*{re.escape(victim.name)} does not decode \\(opened "):
        prepared("folder", tmp_path / "data", path=str(folder))


@pytest.mark.parametrize("name", ["../outside.wav", "/etc/hostname"])
def test_a_file_name_leaving_the_folder_is_refused(folder, tmp_path, name):
    write_audio(folder / "outside.wav", 0)
    path = folder / "clotho_captions_validation.csv"
    write_rows(path, [*read_rows(path), [name, "a caption", "", ""]])
    with pytest.raises(BenchError, match=f"clotho_captions_validation.csv, line 6: file name '{name}' leaves the directory"):
        prepared("folder", tmp_path / "data", path=str(folder))


def test_a_missing_path_says_what_to_pass(tmp_path):
    with pytest.raises(BenchError, match="needs -D path=DIR"):
        prepared("folder", tmp_path / "data")
    with pytest.raises(BenchError, match="is not a directory"):
        prepared("folder", tmp_path / "data", path=str(tmp_path / "nowhere"))


# -- the folder's content keys its results and features -------------------------------------


def test_an_edited_audio_file_gives_new_features_and_a_new_result_key(folder, tmp_path):
    cache = tmp_path / "cache"
    before = prepared("folder", tmp_path / "data", path=str(folder))
    old = probed(before, "test", cache)
    victim = before.split("test").audio_paths[0]
    write_audio(victim, 0, seed=999)  # same name, new sound
    after = prepared("folder", tmp_path / "data", path=str(folder))
    assert after.key != before.key and after.key.startswith(before.key.split("-data-")[0])
    assert after.plugin.source()["fingerprint"] != before.plugin.source()["fingerprint"]
    new = probed(after, "test", cache)
    assert new.directory != old.directory  # the old entry stays for the old content
    assert new[0][0, 2] == pytest.approx(soundfile.read(str(victim), dtype="float32", always_2d=True)[0].mean(axis=1)[0], abs=1e-4)
    assert new[0][0, 1] != pytest.approx(old[0][0, 1])
    assert new[1].tolist() == old[1].tolist()  # the other clips read the same


def test_an_edited_caption_gives_a_new_result_key(folder, tmp_path):
    before = prepared("folder", tmp_path / "data", path=str(folder))
    path = folder / "clotho_captions_development.csv"
    rows = read_rows(path)
    rows[0][1] = "a different description"
    write_rows(path, rows)
    after = prepared("folder", tmp_path / "data", path=str(folder))
    assert after.key != before.key and after.split("train").captions[0][0] == "a different description"


def test_an_unchanged_folder_keeps_its_key_without_reading_its_files_again(folder, tmp_path, monkeypatch, capsys):
    first = prepared("folder", tmp_path / "data", path=str(folder))
    for path in (folder / "validation").iterdir():  # touched or copied, not changed: still the same data
        os.utime(path, ns=(10**18, 10**18))
    assert prepared("folder", tmp_path / "data", path=str(folder)).key == first.key

    def no_opening(path):
        raise RuntimeError(f"opened {path}")

    monkeypatch.setattr(soundfile, "info", no_opening)
    again = prepared("folder", tmp_path / "data", path=str(folder))  # a stat per file, nothing opened
    assert again.key == first.key and again.split("test").fingerprint == first.split("test").fingerprint
    assert "changed" not in capsys.readouterr().err


# -- long clips: refused or cropped, as -D long_clips says ------------------------------------


def test_a_long_clip_is_refused_before_any_extraction_naming_it_its_length_and_the_options(folder, tmp_path, capsys):
    rows = read_rows(folder / "clotho_captions_evaluation.csv")
    victim = folder / "evaluation" / rows[2][0]
    soundfile.write(str(victim), np.zeros(61 * 8000, dtype=np.float32), 8000, format="OGG")  # 61 s, past the default 60
    message = refused_before_extraction("folder", f"path={folder}", tmp_path, capsys, path=str(folder))
    assert message.startswith(f"dataset 'folder': {folder / 'clotho_captions_evaluation.csv'}, line 4: audio file {victim} is 61.0 s long, "
                              "more than max_seconds=60")
    assert "-D long_clips=crop" in message and "-D max_seconds=SECONDS" in message
    assert prepared("folder", tmp_path / "data", path=str(folder), max_seconds=90).split("test").crop_seconds is None


def test_long_clips_may_be_cropped_to_their_first_seconds(folder, tmp_path):
    with pytest.raises(BenchError, match=r"line 2: audio file .* is 0.6 s long, more than max_seconds=0.25 \(as are 11 more of its 12 clips\)"):
        prepared("folder", tmp_path / "data", path=str(folder), max_seconds=0.25)
    dataset = prepared("folder", tmp_path / "data", path=str(folder), max_seconds=0.25, long_clips="crop")
    assert dataset.plugin.options()["max_seconds"] == 0.25 and dataset.plugin.options()["long_clips"] == "crop"
    assert dataset.plugin.source()["cropped"] == {"development": 12, "evaluation": 4, "validation": 4}
    assert "development: 12 of 12 clips are longer than max_seconds=0.25 and cropped to their first 0.25 s (long_clips=crop)" in \
        dataset.plugin.report(dataset.data_dir)
    cache = tmp_path / "cache"
    cropped = probed(dataset, "test", cache)
    assert [cropped[i][0, 0] for i in range(len(cropped))] == [0.25] * 4  # seconds each expert was handed
    whole = probed(prepared("folder", tmp_path / "data", path=str(folder)), "test", cache)
    assert whole.directory != cropped.directory and whole[0][0, 0] == pytest.approx(0.6)


@pytest.mark.parametrize("option, message", [
    ({"long_clips": "trim"}, "dataset 'folder': unknown long_clips choice 'trim'. Available: crop, refuse."),
    ({"max_seconds": 0}, "dataset 'folder': max_seconds must be a positive number of seconds, got 0"),
    ({"max_seconds": "long"}, "dataset 'folder': max_seconds must be a positive number of seconds, got 'long'"),
])
def test_bad_clip_limits_name_the_option(folder, tmp_path, option, message):
    with pytest.raises(BenchError) as error:
        prepared("folder", tmp_path / "data", path=str(folder), **option)
    assert str(error.value) == message


@pytest.mark.slow
def test_a_run_records_the_clip_limit_and_the_clips_it_cropped(folder, tmp_path):
    args = ["run", *FAST, "--dataset", "folder", "-D", f"path={folder}", "-D", "max_seconds=0.5", "-D", "long_clips=crop",
            "--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "results")]
    assert main(args) == 0
    (path,) = (tmp_path / "results").rglob("seed-0.json")
    result = json.loads(path.read_text())
    assert result["dataset_options"]["max_seconds"] == 0.5 and result["dataset_options"]["long_clips"] == "crop"
    assert result["dataset_source"]["cropped"] == {"development": 12, "evaluation": 4, "validation": 4}
    (key,) = {json.loads(k.read_text())["crop_seconds"] for k in (tmp_path / "cache" / "experts").rglob("key.json")}
    assert key == 0.5
