"""Clotho through the real download, verification and extraction code, served from 127.0.0.1."""

from __future__ import annotations

import json

import py7zr
import pytest

from bench_plugins.datasets import clotho
from benchmark.cli import main
from benchmark.data import open_dataset
from benchmark.errors import BenchError
from benchmark.plugins import get_plugin_manager
from tests.httpserver import RangeHandler, serve
from tests.plugins.datasets.fixtures import build_clotho_release, md5, prepared

V2_SIZES = {"development": 16, "validation": 5, "evaluation": 5}
V1_SIZES = {"development": 20, "evaluation": 5}


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """Fixture releases v1 and v2.1 on a local server, their checksums swapped in."""
    served = tmp_path / "served"
    for version, sizes in (("2.1", V2_SIZES), ("1", V1_SIZES)):
        checksums = build_clotho_release(served / f"clotho_v{version}", sizes)
        monkeypatch.setitem(clotho.RELEASES, version, clotho.Release(version, 0, checksums))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    with serve(served) as url:
        monkeypatch.setenv("BENCH_DATA_MIRROR", url)
        yield served


def test_prepare_downloads_verifies_and_extracts_into_clothos_layout(mirror, tmp_path):
    dataset = prepared("clotho_v2", tmp_path / "data")
    assert dataset.data_dir == tmp_path / "data" / "clotho_v2"
    for role, size in (("train", 16), ("validation", 5), ("test", 5)):
        split = dataset.split(role)
        assert len(split) == size and all(p.is_file() for p in split.audio_paths)
        assert all(len(c) == 5 for c in split.captions)
    assert dataset.split("train").audio_paths[0].name == "Development recording, take 0000.wav"
    assert not (dataset.data_dir / "archives" / "clotho_audio_development.7z").exists()  # deleted once extracted
    assert (dataset.data_dir / "clotho_metadata_development.csv.verified").is_file()


def test_a_prepared_dataset_is_reused_without_any_request(mirror, tmp_path):
    prepared("clotho_v2", tmp_path / "data")
    RangeHandler.requests = []
    prepared("clotho_v2", tmp_path / "data")
    assert RangeHandler.requests == []


def test_a_prepared_dataset_works_offline_and_an_unprepared_one_says_what_to_fetch(mirror, tmp_path, monkeypatch):
    prepared("clotho_v2", tmp_path / "data")
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    assert len(prepared("clotho_v2", tmp_path / "data").split("test")) == 5
    with pytest.raises(BenchError, match=r"needs the file clotho_captions_development.csv.*zenodo.org/record/0/.*put it at"):
        prepared("clotho_v2", tmp_path / "other")


def test_the_report_protocol_trains_on_development_and_validation(mirror, tmp_path):
    standard = prepared("clotho_v2", tmp_path / "data")
    report = prepared("clotho_v2", tmp_path / "data", protocol="report")
    assert report.data_dir == standard.data_dir  # one download for both protocols
    assert report.key == "clotho_v2-report" and standard.key == "clotho_v2"
    assert report.split("train").name == "development+validation" and len(report.split("train")) == 21
    assert report.split("validation").name == report.split("test").name == "evaluation"


def test_test_means_clothos_evaluation_split(mirror, tmp_path):
    dataset = prepared("clotho_v2", tmp_path / "data", protocol={"train": "development", "validation": "validation", "test": "test"})
    assert dataset.plugin.protocol["test"] == "evaluation"
    assert dataset.split("test").file_names == prepared("clotho_v2", tmp_path / "data").split("test").file_names
    with pytest.raises(BenchError, match="unknown Clotho split 'evalution'; did you mean 'evaluation'"):
        open_dataset(get_plugin_manager(), "clotho_v2", {"protocol": {"train": "development", "validation": "validation", "test": "evalution"}}, tmp_path)


def test_v1_holds_out_a_seeded_fifth_of_development_for_validation(mirror, tmp_path):
    dataset = prepared("clotho_v1", tmp_path / "data")
    train, validation = dataset.split("train"), dataset.split("validation")
    assert (len(train), len(validation), len(dataset.split("test"))) == (16, 4, 5)
    assert not set(train.file_names) & set(validation.file_names)
    assert sorted(train.file_names + validation.file_names) == sorted(dataset.plugin.load_split(dataset.data_dir, "development").file_names)
    assert prepared("clotho_v1", tmp_path / "data").split("validation").file_names == validation.file_names
    other = prepared("clotho_v1", tmp_path / "data", validation_seed=1)
    assert other.split("validation").file_names != validation.file_names and other.data_dir == dataset.data_dir


def test_the_leakage_check_names_sounds_shared_between_splits(mirror, tmp_path):
    dataset = prepared("clotho_v2", tmp_path / "data")
    (line,) = dataset.plugin.report(dataset.data_dir)
    assert "4 Freesound sounds have clips in more than one split (2 in development & evaluation, 2 in development & validation)" in line
    leaked = json.loads((dataset.data_dir / "leakage.json").read_text())
    assert leaked["10000"] == ["development/Development recording, take 0000.wav", "validation/Validation recording, take 0003.wav"]
    assert len(dataset.split("train")) == 16  # the official splits are kept


def test_bench_prepare_prints_the_protocol_and_the_leakage_check(mirror, tmp_path, capsys):
    assert main(["prepare", "--dataset", "clotho_v2", "--data-dir", str(tmp_path / "data"), "-D", "protocol=report"]) == 0
    out = capsys.readouterr().out
    assert "protocol report:" in out and "development+validation" in out and "21 clips" in out
    assert "leakage check: 4 Freesound sounds" in out


def test_a_file_with_a_wrong_checksum_is_deleted_and_named(mirror, tmp_path):
    (mirror / "clotho_v2.1" / "clotho_captions_validation.csv").write_text("file_name,caption_1\nx.wav,tampered\n")
    with pytest.raises(BenchError, match=r"download of clotho_captions_validation.csv from .* failed verification and was deleted"):
        prepared("clotho_v2", tmp_path / "data")
    assert not list((tmp_path / "data" / "clotho_v2").glob("clotho_captions_validation.csv*"))


def test_a_truncated_download_resumes_and_a_corrupted_local_file_is_refused(mirror, tmp_path):
    data = tmp_path / "data" / "clotho_v2"
    archive = mirror / "clotho_v2.1" / "clotho_audio_development.7z"
    (data / "archives").mkdir(parents=True)
    (data / "archives" / "clotho_audio_development.7z.part").write_bytes(archive.read_bytes()[:500])
    prepared("clotho_v2", tmp_path / "data")
    assert "/clotho_v2.1/clotho_audio_development.7z bytes=500-" in RangeHandler.requests
    (data / "clotho_captions_evaluation.csv").write_text("file_name,caption_1\nx.wav,edited by hand\n")
    with pytest.raises(BenchError, match=r"clotho_captions_evaluation.csv fails its checksum \(expected md5"):
        prepared("clotho_v2", tmp_path / "data")


def test_an_interrupted_extraction_is_redone(mirror, tmp_path):
    dataset = prepared("clotho_v2", tmp_path / "data", keep_archives=True)
    (dataset.data_dir / "validation" / clotho.EXTRACTED).unlink()  # as if stopped before the marker
    (dataset.data_dir / "validation" / "Validation recording, take 0000.wav").unlink()
    dataset.plugin.prepare(dataset.data_dir)
    assert len(dataset.split("validation")) == 5


def test_an_archive_member_leaving_the_target_is_refused(mirror, tmp_path, monkeypatch):
    release = mirror / "clotho_v2.1"
    evil = release / "clotho_audio_evaluation.7z"
    evil.unlink()
    (tmp_path / "payload.wav").write_bytes(b"RIFF")
    with py7zr.SevenZipFile(evil, "w") as z:
        z.write(tmp_path / "payload.wav", "../../escaped.wav")
    checksums = dict(clotho.RELEASES["2.1"].md5, **{evil.name: md5(evil)})
    monkeypatch.setitem(clotho.RELEASES, "2.1", clotho.Release("2.1", 0, checksums))
    with pytest.raises(BenchError, match=r"holds member '../../escaped.wav', whose path leaves the target directory"):
        prepared("clotho_v2", tmp_path / "data")
    assert not list(tmp_path.rglob("escaped.wav"))


def test_unknown_releases_and_protocols_suggest_the_right_name(tmp_path):
    with pytest.raises(BenchError, match="unknown dataset 'clotho_v2' release '2.2'"):
        open_dataset(get_plugin_manager(), "clotho_v2", {"release": "2.2"}, tmp_path)
    with pytest.raises(BenchError, match="did you mean 'report'"):
        open_dataset(get_plugin_manager(), "clotho_v2", {"protocol": "reprot"}, tmp_path)
    v2 = open_dataset(get_plugin_manager(), "clotho_v2", {"release": "2"}, tmp_path)
    assert v2.storage_key.startswith("clotho_v2-") and v2.key == v2.storage_key


@pytest.mark.slow
def test_bench_run_records_the_protocol_and_shares_features_between_protocols(mirror, tmp_path, capsys):
    args = ["run", "--system", "cider_relax", "--dataset", "clotho_v2", "--data-dir", str(tmp_path / "data"),
            "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "results"),
            "--set", "experts=[{name: logmel, frame_rate: 2.0}]", "--set", "schedule.epochs=1"]
    assert main(args) == 0
    assert "leakage check: 4 Freesound sounds" in capsys.readouterr().err
    assert main([*args, "-D", "protocol=report"]) == 0
    standard = json.loads((tmp_path / "results" / "clotho_v2" / "cider_relax" / "seed-0.json").read_text())
    report = json.loads((tmp_path / "results" / "clotho_v2-report" / "cider_relax" / "seed-0.json").read_text())
    assert standard["protocol"] == {"name": "standard", **clotho.ClothoV2.PROTOCOLS["standard"]}
    assert report["protocol"]["name"] == "report" and report["n_clips"] == {"train": 21, "validation": 5, "test": 5}
    # One cache entry per physical split and expert: the report protocol's union reused them.
    assert len(list((tmp_path / "cache" / "experts" / "logmel").iterdir())) == 3
