"""AudioCaps: official CSVs fetched from a local mirror, audio from a user directory with gaps."""

from __future__ import annotations

import csv

import pytest

from benchmark.cli import main
from benchmark.errors import BenchError
from tests.httpserver import serve
from tests.plugins.datasets.fixtures import prepared, write_wav

#: clips per split, and how many of them have no audio (gone from YouTube).
CLIPS = {"train": (10, 1), "val": (4, 0), "test": (5, 1)}


def write_csv(path, rows):
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["audiocap_id", "youtube_id", "start_time", "caption"])
        writer.writerows(rows)


@pytest.fixture
def audiocaps(tmp_path, monkeypatch):
    """The three CSVs on a local server (train: one caption per clip; val/test: five),
    and an audio directory in which some clips are missing."""
    served, audio = tmp_path / "served" / "audiocaps", tmp_path / "audio"
    served.mkdir(parents=True)
    cap_id = 0
    for split, (n, missing) in CLIPS.items():
        rows = []
        for clip in range(n):
            youtube_id = f"{split}Yt{clip:03d}"
            for k in range(1 if split == "train" else 5):
                cap_id += 1
                rows.append([cap_id, youtube_id, 30, f"Caption {k} of {split} clip {clip}"])
            if clip >= missing:
                write_wav(audio / split / f"{youtube_id}_30.wav", 0.05, 16000)
        write_csv(served / f"{split}.csv", rows)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    with serve(served.parent) as url:
        monkeypatch.setenv("BENCH_DATA_MIRROR", url)
        yield audio


def test_missing_clips_are_counted_reported_and_skipped(audiocaps, tmp_path):
    dataset = prepared("audiocaps", tmp_path / "data", audio_dir=str(audiocaps))
    train, validation, test = (dataset.split(role) for role in ("train", "validation", "test"))
    assert (len(train), len(validation), len(test)) == (9, 4, 4)
    assert [len(c) for c in validation.captions] == [5] * 4 and train.captions_per_clip == 1
    assert validation.captions[0][0] == "Caption 0 of val clip 0"
    lines = dataset.plugin.report(dataset.data_dir)
    assert lines[0].startswith("train: 9 of 10 clips have audio; 1 missing (10.0%) are skipped")
    assert (dataset.data_dir / "missing-train.txt").read_text() == "trainYt000_30\n"
    assert dataset.plugin.source() == {
        "audio_dir": str(audiocaps.resolve()),
        "audio_checksums": "none published (the audio comes from YouTube)",
        "clips_without_audio": {"test": 1, "train": 1, "val": 0},
    }


def test_too_many_missing_clips_refuse_to_load(audiocaps, tmp_path):
    dataset = prepared("audiocaps", tmp_path / "data", audio_dir=str(audiocaps), max_missing=0.1)
    with pytest.raises(BenchError, match=r"1 of 5 test clips \(20.0%\) have no audio .*more than max_missing=10%"):
        dataset.split("test")


def test_the_csvs_are_pinned_at_first_download(audiocaps, tmp_path):
    dataset = prepared("audiocaps", tmp_path / "data", audio_dir=str(audiocaps))
    (dataset.data_dir / "val.csv").write_text("audiocap_id,youtube_id,start_time,caption\n1,x,0,edited\n")
    with pytest.raises(BenchError, match=r"val.csv fails its checksum \(expected sha256 .* \(recorded at first use\)"):
        dataset.plugin.prepare(dataset.data_dir)


def test_an_absent_audio_directory_explains_where_audio_goes(audiocaps, tmp_path, capsys):
    assert main(["prepare", "--dataset", "audiocaps", "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert "audiocaps" in err and "audio" in err and "YouTube" in err and "-D audio_dir=DIR" in err


@pytest.mark.parametrize(
    "text, message",
    [
        ("audiocap_id,youtube_id,caption\n1,a,hello\n", "missing column\\(s\\) start_time"),
        ("audiocap_id,youtube_id,start_time,caption\n1,a,0,\n", "line 2: empty caption"),
        ("audiocap_id,youtube_id,start_time,caption\n1,a,0,x\n1,b,0,y\n", "line 3: duplicate audiocap_id 1"),
    ],
)
def test_bad_csvs_name_the_file_and_line(tmp_path, text, message):
    from bench_plugins.datasets.audiocaps import read_audiocaps_csv

    path = tmp_path / "train.csv"
    path.write_text(text)
    with pytest.raises(BenchError, match=message):
        read_audiocaps_csv(path)
    path.write_bytes(b"audiocap_id,youtube_id,start_time,caption\n1,a,0,caf\xe9\n")
    with pytest.raises(BenchError, match="train.csv: not valid UTF-8"):
        read_audiocaps_csv(path)
