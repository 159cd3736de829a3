"""Clotho through the real download, verification and extraction code, served from 127.0.0.1."""

from __future__ import annotations

import json
from dataclasses import replace

import py7zr
import pytest
import soundfile

from bench_plugins.datasets import clotho
from benchmark.cli import main
from benchmark.data import read_caption_rows
from benchmark.data import open_dataset
from benchmark.errors import BenchError
from benchmark.plugins import get_plugin_manager
from tests.httpserver import RangeHandler, serve
from tests.plugins.datasets.fixtures import (
    build_annotations, build_clotho_release, build_extracted_clotho, clip_name, md5, prepared, refused_before_extraction,
)

V2_SIZES = {"development": 16, "validation": 5, "evaluation": 5}
V1_SIZES = {"development": 20, "evaluation": 5}


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """Fixture releases v1 and v2.1 on a local server, their checksums swapped in."""
    served = tmp_path / "served"
    for version, sizes in (("2.1", V2_SIZES), ("1", V1_SIZES)):
        checksums = build_clotho_release(served / f"clotho_v{version}", sizes)
        monkeypatch.setitem(clotho.RELEASES, version, clotho.Release(version, 0, checksums, dict(sizes)))
    names = [clip_name("evaluation", i) for i in range(V2_SIZES["evaluation"])]
    captions = [[f"A evaluation sound, number {i}, heard in take {k}." for k in range(1, 6)] for i in range(len(names))]
    sha256 = build_annotations(served / "dcase2025" / "metadata_eval.csv", names, captions)
    monkeypatch.setattr(clotho, "DCASE2025_ANNOTATIONS", replace(clotho.DCASE2025_ANNOTATIONS, sha256=sha256))
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
    with pytest.raises(BenchError, match=r"needs the Clotho v2.1 file clotho_captions_development.csv.*zenodo.org/record/0/.*put it at"):
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
    with pytest.raises(BenchError, match="^dataset 'clotho_v2': unknown release '2.2'"):
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
    results = tmp_path / "results"  # runs with --set overrides: cider_relax-set-<hash>
    (standard,) = [json.loads(p.read_text()) for p in (results / "clotho_v2").glob("cider_relax-set-*/seed-0.json")]
    (report,) = [json.loads(p.read_text()) for p in (results / "clotho_v2-report").glob("cider_relax-set-*/seed-0.json")]
    assert standard["protocol"] == {"name": "standard", **clotho.ClothoV2.PROTOCOLS["standard"]}
    assert report["protocol"]["name"] == "report" and report["n_clips"] == {"train": 21, "validation": 5, "test": 5}
    # One cache entry per physical split and expert: the report protocol's union reused them.
    assert len(list((tmp_path / "cache" / "experts" / "logmel").iterdir())) == 3
    # The run's record keeps DCASE 2025's annotated queries: scored as the task does, and exported.
    (result,) = (results / "clotho_v2").glob("cider_relax-set-*/seed-0.json")
    capsys.readouterr()
    assert main(["rescore", str(result), "--convention", "dcase2025"]) == 0
    assert "mAP@16" in capsys.readouterr().out
    assert main(["export", str(result)]) == 0
    exported = result.with_name("seed-0.dcase2025.csv").read_text().splitlines()
    assert len(exported) == 1 + V2_SIZES["evaluation"] and exported[0].startswith("index,")


# -- a copy the user extracted, adopted with -D audio_dir=DIR ---------------------------

ADOPT_SIZES = {"development": 12, "validation": 4, "evaluation": 4}


@pytest.fixture
def extracted(tmp_path, monkeypatch):
    """An extracted Clotho v2.1 copy whose CSVs are the release's (their md5 swapped in),
    with downloads off: nothing may be fetched."""
    root = tmp_path / "my clotho"
    checksums = build_extracted_clotho(root, ADOPT_SIZES)
    monkeypatch.setitem(clotho.RELEASES, "2.1", clotho.Release("2.1", 0, checksums, dict(ADOPT_SIZES)))
    rows = read_caption_rows(root / "clotho_captions_evaluation.csv")
    sha256 = build_annotations(root / "metadata_eval.csv", [r.name.strip() for r in rows], [list(r.captions) for r in rows])
    monkeypatch.setattr(clotho, "DCASE2025_ANNOTATIONS", replace(clotho.DCASE2025_ANNOTATIONS, sha256=sha256))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    return root


@pytest.mark.slow
def test_bench_run_on_an_adopted_copy_downloads_nothing_and_records_where_the_audio_came_from(extracted, tmp_path, capsys):
    data = tmp_path / "data"
    args = ["run", "--system", "ranking", "--dataset", "clotho_v2", "-D", f"audio_dir={extracted}", "--data-dir", str(data),
            "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / "results"),
            "--set", "experts=[{name: logmel, frame_rate: 2.0}]", "--set", "schedule.epochs=1", "--set", "batch_size=4"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"audio adopted from {extracted}" in err and "the archives were not verified" in err
    (path,) = (tmp_path / "results").rglob("seed-0.json")
    result = json.loads(path.read_text())
    assert result["dataset"] == "clotho_v2"  # the release's key: the clips are the release's
    assert result["dataset_source"] == {"audio_dir": str(extracted.resolve()), "archives_verified": False}
    assert result["n_clips"] == {"train": 12, "validation": 4, "test": 4}
    assert not (data / "clotho_v2" / "archives").exists()
    assert not [p for p in data.rglob("*") if p.suffix == ".wav"]  # read in place


def test_an_adopted_copy_is_read_in_place_with_clothos_file_names(extracted, tmp_path):
    dataset = prepared("clotho_v2", tmp_path / "data", audio_dir=str(extracted))
    assert dataset.key == dataset.storage_key == "clotho_v2"
    train = dataset.split("train")
    assert len(train) == 12 and all(p.parent == extracted / "development" for p in train.audio_paths)
    assert train.file_names[:4] == [
        "Rain &amp; thunder, development 0.wav",
        "Door creak (old) development_1.wav",  # the CSV cell has a trailing space, the file does not
        "Kid&#39;s toy [development] 2.wav",
        " Birds, wind &amp; sea development 3.wav",  # the file keeps the cell's leading space
    ]
    assert {soundfile.info(str(p)).format for p in train.audio_paths} == {"WAV", "FLAC", "OGG"}
    assert dataset.plugin.source() == {"audio_dir": str(extracted.resolve()), "archives_verified": False}
    assert dataset.split("test").name == "evaluation" and len(dataset.split("test")) == 4


def test_clotho_v1_adopts_too(tmp_path, monkeypatch):
    root = tmp_path / "v1"
    checksums = build_extracted_clotho(root, {"development": 10, "evaluation": 4})
    monkeypatch.setitem(clotho.RELEASES, "1", clotho.Release("1", 0, checksums, {"development": 10, "evaluation": 4}))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    dataset = prepared("clotho_v1", tmp_path / "data", audio_dir=str(root))
    assert (len(dataset.split("train")), len(dataset.split("validation")), len(dataset.split("test"))) == (8, 2, 4)
    assert dataset.key == "clotho_v1" and dataset.plugin.source()["archives_verified"] is False


def test_a_downloaded_copy_records_that_its_archives_were_verified(mirror, tmp_path):
    assert prepared("clotho_v2", tmp_path / "data").plugin.source() == {"archives_verified": True}


def test_csvs_in_the_adopted_folder_that_are_not_the_releases_are_downloaded(mirror, tmp_path):
    root = tmp_path / "extracted"
    for archive in (mirror / "clotho_v2.1").glob("clotho_audio_*.7z"):
        with py7zr.SevenZipFile(archive) as z:
            z.extractall(root)
    (root / "clotho_captions_validation.csv").write_text("file_name,caption_1\nedited.wav,by hand\n")
    good = mirror / "clotho_v2.1" / "clotho_captions_evaluation.csv"
    (root / good.name).write_bytes(good.read_bytes())
    RangeHandler.requests = []
    dataset = prepared("clotho_v2", tmp_path / "data", audio_dir=str(root))
    assert not [r for r in RangeHandler.requests if ".7z" in r]  # no archive
    assert "/clotho_v2.1/clotho_captions_validation.csv" in RangeHandler.requests  # the edited one: fetched
    assert "/clotho_v2.1/clotho_captions_evaluation.csv" not in RangeHandler.requests  # the release's: used
    assert len(dataset.split("validation")) == 5 and dataset.split("validation").audio_paths[0].parent == root / "validation"


def _adopt_missing(root):
    victim = root / "validation" / "Kid&#39;s toy [validation] 2.wav"
    victim.unlink()
    return "clotho_captions_validation.csv, line 4: audio file", victim.name + " is listed but absent"


def _adopt_undecodable(root):
    victim = root / "evaluation" / "Rain &amp; thunder, evaluation 0.wav"
    victim.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt truncated")
    return "clotho_captions_evaluation.csv, line 2: audio file", victim.name + " does not decode"


def _adopt_extra_file(root):
    (root / "development" / "Stray copy.wav").write_bytes((root / "development" / "Door creak (old) development_1.wav").read_bytes())
    return f"{root / 'development'} holds 13 WAV files", "Clotho v2.1's development split has 12: is it another release's folder?"


def _adopt_no_folder(root):
    (root / "validation").rename(root / "val")
    return f"audio_dir {root.resolve()} has no validation/ folder", "development/, validation/, evaluation/ folders"


@pytest.mark.parametrize("spoil", [_adopt_missing, _adopt_undecodable, _adopt_extra_file, _adopt_no_folder])
def test_an_adopted_copy_is_checked_before_any_expensive_work(extracted, tmp_path, capsys, spoil):
    where, what = spoil(extracted)
    message = refused_before_extraction("clotho_v2", f"audio_dir={extracted}", tmp_path, capsys, audio_dir=str(extracted))
    assert where in message and what in message


def test_the_adopted_files_are_decoded_once(extracted, tmp_path, monkeypatch):
    prepared("clotho_v2", tmp_path / "data", audio_dir=str(extracted))

    def no_opening(path):
        raise RuntimeError(f"opened {path}")

    monkeypatch.setattr(soundfile, "info", no_opening)
    prepared("clotho_v2", tmp_path / "data", audio_dir=str(extracted))  # a stat per file, nothing opened


def test_not_found_sound_ids_are_not_one_sound_shared_by_every_split(extracted, tmp_path):
    dataset = prepared("clotho_v2", tmp_path / "data", audio_dir=str(extracted))
    lines = dataset.plugin.report(dataset.data_dir)
    assert lines[-1].startswith(
        "leakage check: 2 Freesound sounds have clips in more than one split (1 in development & evaluation, "
        "1 in development & validation); 6 clips have no Freesound sound id ('Not found' or empty) and are not checked;"
    )
    leaked = json.loads((dataset.data_dir / "leakage.json").read_text())
    assert sorted(leaked) == ["10005", "10006"] and leaked["10005"][1] == "validation/Birds, wind &amp; sea validation 3.wav"


def test_the_evaluation_split_carries_dcase2025s_annotated_queries(mirror, tmp_path):
    dataset = prepared("clotho_v2", tmp_path / "data")
    assert (tmp_path / "data" / "clotho_v2" / clotho.ANNOTATIONS).is_file()
    test = dataset.split("test")
    sets = dataset.query_sets(test)
    names = test.file_names
    assert list(sets) == ["dcase2025"] and len(sets["dcase2025"]) == len(names)
    assert sets["dcase2025"][0] == (test.captions[0][0], [names[0], names[1]])
    assert sets["dcase2025"][-1] == (test.captions[-1][0], [names[0]])  # its own clip not listed
    assert dataset.query_sets(dataset.split("validation")) == {}


def test_a_local_copy_of_the_annotations_is_used_offline_and_another_file_refused(mirror, tmp_path, monkeypatch):
    copy = tmp_path / "metadata_eval.csv"
    copy.write_bytes((mirror / "dcase2025" / "metadata_eval.csv").read_bytes())
    prepared("clotho_v2", tmp_path / "data")  # everything else in place
    (tmp_path / "data" / "clotho_v2" / clotho.ANNOTATIONS).unlink()
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    with pytest.raises(BenchError, match=r"needs the DCASE 2025 annotations file metadata_eval.csv.*-D annotations=PATH"):
        prepared("clotho_v2", tmp_path / "data")
    assert prepared("clotho_v2", tmp_path / "data", annotations=str(copy)).query_sets  # offline, from the copy
    (tmp_path / "data" / "clotho_v2" / clotho.ANNOTATIONS).unlink()
    copy.write_text(copy.read_text().replace("number 1", "number 2"))
    with pytest.raises(BenchError, match=f"annotations {copy} is not DCASE 2025's metadata_eval.csv"):
        prepared("clotho_v2", tmp_path / "data", annotations=str(copy))
    with pytest.raises(BenchError, match="annotations .*missing.csv is not a file"):
        prepared("clotho_v2", tmp_path / "data", annotations=str(tmp_path / "missing.csv"))


@pytest.mark.parametrize("row", ['a query,"[\'a.wav\', 3]"', 'a query,"__import__(\'os\')"', 'a query,"[\'a.wav\'"', ',"[\'a.wav\']"'])
def test_an_annotations_row_that_is_not_a_query_and_its_files_is_named(tmp_path, row):
    path = tmp_path / "metadata_eval.csv"
    path.write_text(f"query,audio_filenames\nfine,\"['a.wav']\"\n{row}\n")
    with pytest.raises(BenchError, match=f"{path}, line 3: expected a query and a list of file names"):
        clotho.read_annotations(path)


def test_the_caption_split_needs_no_audio(mirror, tmp_path):
    dataset = open_dataset(get_plugin_manager(), "clotho_v2", {}, tmp_path / "data")
    split = dataset.caption_split("test")
    assert len(split) == V2_SIZES["evaluation"] and split.captions[0][0] == "A evaluation sound, number 0, heard in take 1."
    files = {p.name for p in (tmp_path / "data" / "clotho_v2").iterdir() if not p.name.startswith(".")}
    assert files <= {"clotho_captions_evaluation.csv", clotho.ANNOTATIONS, f"{clotho.ANNOTATIONS}.verified",
                     "clotho_captions_evaluation.csv.verified"}  # no archive, no audio folder
    assert clotho.ANNOTATIONS in files
