"""The `hf` dataset: a `save_to_disk` directory with an audio column and caption columns."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import soundfile

from benchmark.errors import BenchError
from tests.plugins.datasets.fixtures import prepared, write_wav


@pytest.fixture
def saved(tmp_path):
    """Train/validation/test splits; `caption` is a string, `more` a list of 0-2 strings."""
    splits = {}
    for s, (split, n) in enumerate((("train", 6), ("validation", 3), ("test", 3))):
        paths = []
        for i in range(n):
            path = tmp_path / "source" / split / f"clip{i}.flac"
            write_wav(path, 0.1, 16000, seed=10 * s + i)
            paths.append(str(path))
        table = datasets.Dataset.from_dict({
            "audio": paths,
            "caption": [f"{split} clip {i} sounds" for i in range(n)],
            "more": [[f"another caption {k}" for k in range(i % 3)] for i in range(n)],
        })
        splits[split] = table.cast_column("audio", datasets.Audio())
    directory = tmp_path / "saved"
    datasets.DatasetDict(splits).save_to_disk(str(directory))
    return directory


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
