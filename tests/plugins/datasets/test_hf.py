"""The `hf` dataset: a `save_to_disk` directory with an audio column and caption columns."""

from __future__ import annotations

import shutil

import datasets
import numpy as np
import pytest
import soundfile

from benchmark.errors import BenchError
from tests.plugins.datasets.fixtures import prepared, write_wav


def save(directory, sources, caption="{split} clip {i} sounds", seed=0):
    """Train/validation/test splits saved to ``directory``; `caption` is a string, `more` a
    list of 0-2 strings; audio files written under ``sources``."""
    splits = {}
    for s, (split, n) in enumerate((("train", 6), ("validation", 3), ("test", 3))):
        paths = []
        for i in range(n):
            path = sources / split / f"clip{i}.flac"
            write_wav(path, 0.1, 16000, seed=seed + 10 * s + i)
            paths.append(str(path))
        table = datasets.Dataset.from_dict({
            "audio": paths,
            "caption": [caption.format(split=split, i=i) for i in range(n)],
            "more": [[f"another caption {k}" for k in range(i % 3)] for i in range(n)],
        })
        splits[split] = table.cast_column("audio", datasets.Audio())
    datasets.DatasetDict(splits).save_to_disk(str(directory))
    return directory


@pytest.fixture
def saved(tmp_path):
    return save(tmp_path / "saved", tmp_path / "source")


def test_a_saved_dataset_is_written_in_clothos_layout_with_its_audio_intact(saved, tmp_path):
    dataset = prepared("hf", tmp_path / "data", path=str(saved), caption_columns=["caption", "more"])
    train = dataset.split("train")
    assert len(train) == 6 and len(dataset.split("validation")) == 3 and len(dataset.split("test")) == 3
    assert [len(c) for c in train.captions] == [1, 2, 3, 1, 2, 3]  # ragged: 1 + (i % 3) captions
    assert train.captions[2] == ("train clip 2 sounds", "another caption 0", "another caption 1")
    original, _ = soundfile.read(str(tmp_path / "source" / "train" / "clip2.flac"))
    written, rate = soundfile.read(str(train.audio_paths[2]))
    assert rate == 16000 and np.array_equal(original, written) and train.audio_paths[2].suffix == ".flac"


def test_prepare_is_done_once(saved, tmp_path):
    dataset = prepared("hf", tmp_path / "data", path=str(saved))
    first = dataset.split("test").audio_paths[0].stat().st_mtime_ns
    dataset.plugin.prepare(dataset.data_dir)
    assert dataset.split("test").audio_paths[0].stat().st_mtime_ns == first


def test_a_dataset_saved_again_with_other_rows_is_written_again_under_a_new_key(saved, tmp_path, capsys):
    before = prepared("hf", tmp_path / "data", path=str(saved))
    old = before.split("test")
    shutil.rmtree(saved)
    save(saved, tmp_path / "source v2", caption="{split} clip {i}, edited", seed=500)
    after = prepared("hf", tmp_path / "data", path=str(saved))
    assert after.key != before.key and after.key.startswith(before.key.split("-data-")[0])
    new = after.split("test")
    assert new.captions[0] == ("test clip 0, edited",) and new.fingerprint != old.fingerprint
    assert new.audio_paths[0].read_bytes() == (tmp_path / "source v2" / "test" / "clip0.flac").read_bytes()
    assert after.plugin.source()["fingerprint"] == after.fingerprint != before.fingerprint
    assert "changed since its splits were written" in capsys.readouterr().err


def test_an_unchanged_saved_dataset_is_not_loaded_again(saved, tmp_path, monkeypatch):
    first = prepared("hf", tmp_path / "data", path=str(saved))

    def refuse(*args, **kwargs):
        raise AssertionError("the dataset was loaded again")

    monkeypatch.setattr(datasets, "load_from_disk", refuse)
    again = prepared("hf", tmp_path / "data", path=str(saved))
    assert again.key == first.key and again.split("train").fingerprint == first.split("train").fingerprint


def test_a_hub_dataset_is_keyed_by_its_commit_and_written_again_after_a_new_one(saved, tmp_path, monkeypatch):
    from types import SimpleNamespace

    import huggingface_hub

    for variable in ("BENCH_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    hub = {"sha": "a" * 40, "saved": saved}
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", lambda self, repo, revision=None: SimpleNamespace(sha=hub["sha"]))
    monkeypatch.setattr(datasets, "load_dataset", lambda path, name=None, revision=None: datasets.load_from_disk(str(hub["saved"])))
    first = prepared("hf", tmp_path / "data", path="someone/clips")
    assert first.key.endswith("-data-aaaaaaaa") and first.split("test").captions[0] == ("test clip 0 sounds",)
    hub.update(sha="b" * 40, saved=save(tmp_path / "v2", tmp_path / "source v2", caption="{split} clip {i}, new commit"))
    second = prepared("hf", tmp_path / "data", path="someone/clips")
    assert second.key.endswith("-data-bbbbbbbb") and second.split("test").captions[0] == ("test clip 0, new commit",)
    monkeypatch.setenv("BENCH_OFFLINE", "1")  # offline: the commit the splits were written from
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info", lambda *a, **k: pytest.fail("looked up offline"))
    assert prepared("hf", tmp_path / "data", path="someone/clips").key == second.key


def test_split_and_column_names_are_options(saved, tmp_path):
    dataset = prepared("hf", tmp_path / "data", path=str(saved), validation="test", test="validation")
    assert dataset.split("test").captions[0] == ("validation clip 0 sounds",)
    with pytest.raises(BenchError, match="unknown column of .* 'captoin'; did you mean 'caption'"):
        prepared("hf", tmp_path / "data", path=str(saved), caption_columns="captoin")
    with pytest.raises(BenchError, match="unknown split of .* 'dev'.*-D train="):
        prepared("hf", tmp_path / "data", path=str(saved), train="dev")


def test_empty_captions_are_errors_naming_the_row(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path)
    table = datasets.Dataset.from_dict({"audio": [str(path)] * 2, "caption": ["fine", "  "]}).cast_column("audio", datasets.Audio())
    datasets.DatasetDict(train=table, validation=table, test=table).save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(BenchError, match="split 'test', row 1: empty caption in column 'caption'"):
        prepared("hf", tmp_path / "data", path=str(tmp_path / "saved"))


def test_hub_names_need_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    with pytest.raises(BenchError, match="'someone/clips' is not a local directory and downloads are off"):
        prepared("hf", tmp_path / "data", path="someone/clips")
    with pytest.raises(BenchError, match="needs -D path="):
        prepared("hf", tmp_path / "data")


def test_data_files_laid_out_as_on_the_hub_load_through_load_dataset(saved, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    files = tmp_path / "parquet"
    for split, table in datasets.load_from_disk(str(saved)).items():
        table.to_parquet(str(files / f"{split}.parquet"))
    dataset = prepared("hf", tmp_path / "data", path=str(files))
    assert len(dataset.split("train")) == 6 and dataset.split("test").captions[1] == ("test clip 1 sounds",)


# -- AudioFolder directories, read without datasets (which needs torchcodec for them) -------


def write_metadata(path, rows):
    """``metadata.csv`` (one caption column per caption) or ``metadata.jsonl`` (a list)."""
    import csv
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({"file_name": name, "caption": captions}) + "\n" for name, captions in rows))
        return
    width = max(len(c) for _, c in rows)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", *[f"caption_{k + 1}" for k in range(width)]])
        writer.writerows([name, *captions, *[""] * (width - len(captions))] for name, captions in rows)


def audiofolder(root, layout, sizes=(("train", 8), ("validation", 3), ("test", 3))):
    """An AudioFolder directory of WAV/FLAC/OGG files at 16/22.05/44.1 kHz, mono and stereo:
    ``root`` (one metadata.csv at the root naming ``<split>/<file>``) or ``split``
    (a metadata.jsonl in each split folder)."""
    from tests.plugins.datasets.fixtures import EXTENSION, MIXED, write_audio

    everything = []
    for s, (split, n) in enumerate(sizes):
        rows = []
        for i in range(n):
            name = f"clip {i:02d}{EXTENSION[MIXED[i % len(MIXED)][0]]}"
            write_audio(root / split / name, i, seed=50 * s + i)
            rows.append((name, [f"{split} sound {i}", *[f"another take on {split} {i}"] * (i % 3)]))
        if layout == "split":
            write_metadata(root / split / "metadata.jsonl", rows)
        everything += [(f"{split}/{name}", captions) for name, captions in rows]
    if layout == "root":
        write_metadata(root / "metadata.csv", everything)
    return root


@pytest.fixture
def no_load_dataset(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("datasets.load_dataset was called")

    monkeypatch.setattr(datasets, "load_dataset", refuse)


@pytest.mark.slow
def test_bench_run_on_an_audiofolder_without_torchcodec(tmp_path, no_load_dataset):
    import importlib.util
    import json

    from benchmark.cli import main

    assert importlib.util.find_spec("torchcodec") is None  # what made datasets 5 fail on this layout
    root = audiofolder(tmp_path / "af", "root")
    data = tmp_path / "data"
    args = ["run", "--system", "ranking", "--dataset", "hf", "-D", f"path={root}", "-D", "caption_columns=[caption_1, caption_2, caption_3]",
            "--set", "experts=[{name: logmel, frame_rate: 2.0}]", "--set", "schedule.epochs=1", "--set", "batch_size=4",
            "--data-dir", str(data), "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "results")]
    assert main(args) == 0
    (path,) = (tmp_path / "results").rglob("seed-0.json")
    result = json.loads(path.read_text())
    assert result["dataset"].startswith("hf-") and result["n_clips"] == {"train": 8, "validation": 3, "test": 3}
    assert result["dataset_source"]["layout"] == "audiofolder" and result["dataset_source"]["path"] == str(root.resolve())
    assert not [p for p in data.rglob("*") if p.suffix in (".wav", ".flac", ".ogg")]  # read in place


@pytest.mark.parametrize("layout", ["root", "split"])
def test_an_audiofolder_is_read_in_place(tmp_path, no_load_dataset, layout):
    root = audiofolder(tmp_path / "af", layout)
    columns = ["caption_1", "caption_2", "caption_3"] if layout == "root" else "caption"
    dataset = prepared("hf", tmp_path / "data", path=str(root), caption_columns=columns)
    train, test = dataset.split("train"), dataset.split("test")
    assert len(train) == 8 and len(dataset.split("validation")) == 3 and len(test) == 3
    assert train.audio_paths[1] == root.resolve() / "train" / "clip 01.flac"
    assert [len(c) for c in train.captions[:3]] == [1, 2, 3] and test.captions[2][0] == "test sound 2"
    assert {soundfile.info(str(p)).samplerate for p in train.audio_paths} == {16000, 22050, 44100}


def test_the_split_of_a_row_is_inferred_as_hugging_face_does(tmp_path, no_load_dataset):
    from tests.plugins.datasets.fixtures import write_audio

    root = tmp_path / "af"
    for i, name in enumerate(["top.wav", "train/a.wav", "test/b.wav", "dev/c.wav", "dev/d.wav", "extra/e.wav"]):
        write_audio(root / name, i)
    write_metadata(root / "metadata.csv", [(n, [f"caption of {n}"]) for n in ["top.wav", "train/a.wav", "test/b.wav", "dev/c.wav"]])
    write_metadata(root / "extra" / "metadata.csv", [("e.wav", ["caption of e"])])
    dataset = prepared("hf", tmp_path / "data", path=str(root), caption_columns="caption_1", validation="dev", test="extra")
    assert [p.name for p in dataset.split("train").audio_paths] == ["top.wav", "a.wav"]  # no folder: train
    assert dataset.split("validation").captions == (("caption of dev/c.wav",),)  # d.wav is listed nowhere
    assert dataset.split("test").audio_paths == (root.resolve() / "extra" / "e.wav",)  # its metadata file's folder
    assert len(prepared("hf", tmp_path / "data", path=str(root), caption_columns="caption_1", validation="dev").split("test")) == 1


def _af_missing(root):
    (root / "train" / "clip 03.wav").unlink()
    return "train/metadata.jsonl, line 4: audio file", "clip 03.wav is listed but absent"


def _af_undecodable(root):
    (root / "validation" / "clip 01.flac").write_bytes(b"fLaC but not really")
    return "validation/metadata.jsonl, line 2: audio file", "clip 01.flac does not decode"


def _af_empty_caption(root):
    path = root / "test" / "metadata.jsonl"
    lines = path.read_text().splitlines()
    lines[2] = '{"file_name": "clip 02.ogg", "caption": ["fine", " ", "fine again"]}'
    path.write_text("\n".join(lines) + "\n")
    return "test/metadata.jsonl, line 3", "empty caption in column 'caption' for 'clip 02.ogg'"


def _af_duplicate(root):
    path = root / "train" / "metadata.jsonl"
    path.write_text(path.read_text() + path.read_text().splitlines()[5] + "\n")
    return "train/metadata.jsonl, line 9", "duplicate file name 'clip 05.ogg' in split 'train' (first listed at"


def _af_split_folder_without_metadata(root):
    (root / "validation" / "metadata.jsonl").unlink()
    return f"split folder {root / 'validation'}", "has no metadata.csv or metadata.jsonl"


def _af_leaving(root):
    path = root / "test" / "metadata.jsonl"
    path.write_text(path.read_text() + '{"file_name": "../train/clip 00.wav", "caption": "borrowed"}\n')
    return "test/metadata.jsonl, line 4", "file name '../train/clip 00.wav' leaves the directory"


def _af_absolute(root):
    path = root / "test" / "metadata.jsonl"
    path.write_text(path.read_text() + f'{{"file_name": "{root / "train" / "clip 00.wav"}", "caption": "borrowed"}}\n')
    return "test/metadata.jsonl, line 4", "leaves the directory"


@pytest.mark.parametrize("spoil", [_af_missing, _af_undecodable, _af_empty_caption, _af_duplicate,
                                   _af_split_folder_without_metadata, _af_leaving, _af_absolute])
def test_bad_audiofolder_input_is_one_line_naming_the_file(tmp_path, no_load_dataset, spoil):
    root = audiofolder(tmp_path / "af", "split")
    where, what = spoil(root)
    with pytest.raises(BenchError) as error:
        prepared("hf", tmp_path / "data", path=str(root))
    message = str(error.value)
    assert where in message and what in message and "\n" not in message


def test_absent_audiofolder_files_may_be_a_counted_skip(tmp_path, no_load_dataset):
    root = audiofolder(tmp_path / "af", "split")
    (root / "train" / "clip 03.wav").unlink()
    with pytest.raises(BenchError, match="clip 03.wav is listed but absent; -D max_missing=SHARE skips absent files"):
        prepared("hf", tmp_path / "data", path=str(root))
    dataset = prepared("hf", tmp_path / "data", path=str(root), max_missing=0.2)
    assert len(dataset.split("train")) == 7
    assert dataset.plugin.report(dataset.data_dir) == [
        f"train: 1 of 8 listed audio files are absent (12.5%) and skipped (max_missing=20%; list in {dataset.data_dir / 'missing-train.txt'})"
    ]
    assert dataset.plugin.source()["missing_skipped"]["train"] == 1


def test_an_edited_audiofolder_gives_a_new_key_and_new_split_fingerprints(tmp_path, no_load_dataset):
    from tests.plugins.datasets.fixtures import write_audio

    root = audiofolder(tmp_path / "af", "split")
    before = prepared("hf", tmp_path / "data", path=str(root))
    test, train = before.split("test").fingerprint, before.split("train").fingerprint
    write_audio(root / "test" / "clip 01.flac", 1, seed=999)
    after = prepared("hf", tmp_path / "data", path=str(root))
    assert after.key != before.key and after.plugin.source()["fingerprint"] == after.fingerprint
    assert after.split("test").fingerprint != test and after.split("train").fingerprint == train
    assert prepared("hf", tmp_path / "data", path=str(root)).key == after.key


def test_long_clips_are_refused_naming_the_row_or_the_metadata_line_unless_cropped(saved, tmp_path, no_load_dataset):
    with pytest.raises(BenchError, match=r"^dataset 'hf': '.*saved', split 'test', row 0: audio file .*0000000.flac is 0.1 s "
                                         r"long, more than max_seconds=0.05 \(as are 2 more of its 3 clips\).*-D long_clips=crop"):
        prepared("hf", tmp_path / "data", path=str(saved), max_seconds=0.05)
    dataset = prepared("hf", tmp_path / "data", path=str(saved), max_seconds=0.05, long_clips="crop")
    assert dataset.split("train").crop_seconds == 0.05 and dataset.plugin.source()["cropped"]["train"] == 6
    root = audiofolder(tmp_path / "af", "split")
    with pytest.raises(BenchError, match=r"test/metadata.jsonl, line 1: audio file .*clip 00.wav is 0.6 s long, more than max_seconds=0.5"):
        prepared("hf", tmp_path / "data", path=str(root), max_seconds=0.5)
    dataset = prepared("hf", tmp_path / "data", path=str(root), max_seconds=0.5, long_clips="crop")
    assert dataset.split("test").crop_seconds == 0.5 and dataset.plugin.source()["cropped"]["test"] == 3
    assert dataset.plugin.options()["long_clips"] == "crop"
