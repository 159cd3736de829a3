"""The freesound_mined dataset against the Freesound stand-in on 127.0.0.1: a manifest's
previews downloaded (resumed, type-checked, never accepted short), sounds gone upstream or
undecodable counted and skipped, Clotho's layout with one caption per clip, attribution,
and a key that follows the manifest."""

from __future__ import annotations

import csv
import json

import pytest

from bench_plugins.datasets.freesound import dataset as mined
from benchmark.api import BenchError
from benchmark.cli import main
from benchmark.data import open_dataset
from benchmark.plugins import get_plugin_manager
from tests.plugins.datasets.fixtures import prepared
from tests.plugins.datasets.freesound import standin
from tests.plugins.datasets.freesound.standin import make_records, ogg_bytes, serve_freesound

N = 8
CAPTIONS = ("A dog barks twice   while cars pass by.", "Rain falls on a tin roof.", "Birds chirp in the trees.",
            "A door creaks open and slams shut.", "People talk and laugh in a room.", "Water flows over rocks.",
            "A train passes\nwith its horn blowing.", "Wind blows through the leaves.")


def manifest_lines(api, records):
    """The manifest bench mine would write for ``records``, as served by ``api``."""
    return [{"id": r["id"], "description": r["description"], "score": 0.9, "duration": 3.0, "license": r["license"],
             "author": r["username"], "preview": api.preview_url(r["id"]),
             "url": f"https://freesound.org/people/{r['username']}/sounds/{r['id']}/"} for r in records]


def write_manifest(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def world(tmp_path, monkeypatch):
    """The stand-in serving N sounds with 3 s OGG Vorbis previews, their manifest, and a data root."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # downloads from 127.0.0.1 only
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    records = make_records(N, seed=1)
    for record, caption in zip(records, CAPTIONS):
        record["description"] = caption
    previews = {r["id"]: ogg_bytes(seconds=3.0, seed=r["id"]) for r in records}
    with serve_freesound(records, previews) as api:
        lines = manifest_lines(api, records)
        yield api, write_manifest(tmp_path / "manifest.jsonl", lines), lines, tmp_path / "data"


def prepare(manifest, data_root, **options):
    return prepared("freesound_mined", data_root, manifest=str(manifest), **options)


def preview_requests(api):
    return [r for r in api.requests if r.startswith("/previews/")]


def read_rows(path):
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_manifest_is_prepared_into_clothos_layout_with_one_caption_per_clip(world):
    api, manifest, lines, data_root = world
    dataset = prepare(manifest, data_root)
    data_dir = dataset.data_dir
    development = dataset.plugin.load_split(data_dir, "development")
    assert development.file_names == [f"{line['id']}.ogg" for line in lines]
    assert [c for (c,) in development.captions] == [" ".join(line["description"].split()) for line in lines]
    assert development.captions[0] == ("A dog barks twice while cars pass by.",)  # whitespace collapsed
    for line, path in zip(lines, development.audio_paths):
        assert path.parent == data_dir / "development" and path.read_bytes() == api.previews[line["id"]]
    train, validation = dataset.split("train"), dataset.split("validation")
    assert len(validation) == 1 and len(train) == N - 1  # 5% of 8, at least one
    assert sorted(train.file_names + validation.file_names) == sorted(development.file_names)
    assert dataset.split("test").file_names == validation.file_names
    assert train.fingerprint == development.fingerprint == dataset.fingerprint and train.crop_seconds == 30.0
    assert dataset.report() == [
        f"kept: {N} of the {N} sounds of manifest {manifest}; their authors must be credited when the data is shared "
        f"({data_dir / 'ATTRIBUTION.md'})",
        f"gone upstream: 0 previews answered 404/410 (deleted since mining) and are skipped "
        f"(listed in {data_dir / 'skipped.csv'})",
        f"undecodable: 0 previews do not decode and are skipped (listed in {data_dir / 'skipped.csv'})",
    ]
    source = dataset.plugin.source()
    assert source["manifest"] == str(manifest) and source["kept"] == N and len(source["manifest_sha256"]) == 64


def test_the_holdout_follows_share_and_seed_and_a_sound_keeps_its_side_when_the_manifest_grows(world, tmp_path):
    api, manifest, lines, data_root = world
    quarter = prepare(manifest, data_root, validation_share=0.25)
    held = quarter.split("validation").file_names
    assert len(held) == 2
    other = prepare(manifest, data_root, validation_share=0.25, validation_seed=1)
    assert other.split("validation").file_names != held and other.key != quarter.key
    fewer = prepare(write_manifest(tmp_path / "fewer.jsonl", lines[:6]), data_root, validation_share=0.25)
    grown = prepare(manifest, data_root, validation_share=0.25)
    assert set(fewer.split("validation").file_names) <= set(grown.split("validation").file_names)


def test_previews_longer_than_max_seconds_are_read_up_to_it_and_reported(world):
    api, manifest, lines, data_root = world
    dataset = prepare(manifest, data_root, max_seconds=2)  # the previews are 3 s long
    assert dataset.split("train").crop_seconds == 2.0
    assert dataset.report()[3] == (f"development: {N} of {N} clips are longer than max_seconds=2 and cropped to their "
                                   "first 2 s (long_clips=crop)")


def test_a_sound_deleted_since_mining_is_counted_skipped_and_not_requested_again(world):
    api, manifest, lines, data_root = world
    deleted = lines[2]["id"]
    api.delete(deleted)
    dataset = prepare(manifest, data_root)
    development = dataset.plugin.load_split(dataset.data_dir, "development")
    assert len(development) == N - 1 and f"{deleted}.ogg" not in development.file_names
    assert dataset.report()[1].startswith("gone upstream: 1 previews answered 404/410")
    assert dataset.plugin.source()["gone_upstream"] == 1
    (row,) = read_rows(dataset.data_dir / "skipped.csv")
    assert row["sound_id"] == str(deleted) and row["reason"] == "gone upstream (HTTP 404)" and row["manifest_line"] == "3"
    before = len(api.requests)
    prepare(manifest, data_root)
    assert api.requests[before:] == []


def test_a_preview_that_does_not_decode_is_counted_and_skipped(world):
    """Served as audio/ogg, whole from its first byte, but not audio: the source's fault. It
    is neither kept nor marked verified, and not requested again."""
    api, manifest, lines, data_root = world
    broken = lines[5]["id"]
    api.previews[broken] = b"OggS" + bytes(range(256)) * 40
    dataset = prepare(manifest, data_root)
    assert f"{broken}.ogg" not in dataset.split("train").file_names + dataset.split("validation").file_names
    assert dataset.report()[2].startswith("undecodable: 1 previews do not decode and are skipped")
    assert [row["reason"] for row in read_rows(dataset.data_dir / "skipped.csv")] == ["does not decode"]
    assert not list((dataset.data_dir / "development").glob(f"{broken}.ogg*"))  # no file, no .verified record
    remembered = json.loads((dataset.data_dir / mined.UNDECODABLE_FILE).read_text())
    assert list(remembered) == [api.preview_url(broken)] and "cannot read audio file" in remembered[api.preview_url(broken)]
    before = len(api.requests)
    assert prepare(manifest, data_root).report()[2].startswith("undecodable: 1 previews")
    assert api.requests[before:] == []  # downloaded once, not fetched again


def test_a_preview_left_broken_and_marked_verified_by_an_older_version_is_downloaded_again(world):
    """An older version kept a preview cut short (no Content-Length, closed early) with a
    .verified record: it is checked on the next preparation, fails to decode, and is fetched
    again rather than blamed on the source."""
    from benchmark.download import verify

    api, manifest, lines, data_root = world
    prepare(manifest, data_root)
    victim = lines[2]["id"]
    preview = data_root / "freesound_mined" / "development" / f"{victim}.ogg"
    preview.write_bytes(api.previews[victim][:1500])
    preview.with_name(f"{victim}.ogg.verified").unlink()
    verify(mined.Sound(victim, "", "", "", api.preview_url(victim), "", 3).remote(), preview)  # as the old code did
    before = len(api.requests)
    dataset = prepare(manifest, data_root)
    assert preview.read_bytes() == api.previews[victim] and api.requests[before:] == [f"/previews/{victim}-hq.ogg"]
    assert dataset.report()[2].startswith("undecodable: 0 previews") and len(dataset.split("train")) == N - 1


def test_a_dropped_connection_is_resumed_and_the_preview_is_whole(world):
    api, manifest, lines, data_root = world
    cut = lines[1]["id"]
    api.truncate(cut)  # the first response stops halfway, the connection closes
    dataset = prepare(manifest, data_root)
    assert (dataset.data_dir / "development" / f"{cut}.ogg").read_bytes() == api.previews[cut]
    tries = [rng for request, rng in zip(api.requests, api.ranges) if request == f"/previews/{cut}-hq.ogg"]
    assert tries == ["", f"bytes={len(api.previews[cut]) // 2}-"]


def test_a_preview_cut_short_on_every_try_is_never_accepted_and_a_later_run_resumes_it(world):
    api, manifest, lines, data_root = world
    cut = lines[4]["id"]
    api.truncate(cut, times=None)
    with pytest.raises(BenchError) as caught:
        prepare(manifest, data_root, workers=1)
    message = str(caught.value)
    assert message.startswith(f"dataset 'freesound_mined': could not download {cut}.ogg from {api.preview_url(cut)} (")
    assert "connection closed" in message and "\n" not in message
    data_dir = data_root / "freesound_mined"
    target = data_dir / "development" / f"{cut}.ogg"
    part = target.with_name(f"{cut}.ogg.part")
    size = len(api.previews[cut])
    assert not target.exists() and 0 < part.stat().st_size < size  # kept to resume from, not taken for the preview
    assert not (data_dir / "clotho_captions_development.csv").exists()
    assert len([r for r in api.requests if r == f"/previews/{cut}-hq.ogg"]) == mined.ATTEMPTS
    before = len(api.requests)
    api.restore()  # an interrupted preparation, run again
    dataset = prepare(manifest, data_root)
    assert target.read_bytes() == api.previews[cut] and not part.exists()
    again = dict(zip(api.requests[before:], api.ranges[before:]))
    assert again[f"/previews/{cut}-hq.ogg"] == f"bytes={part_size_after(size)}-"  # resumed where the part ends
    others = [f"/previews/{line['id']}-hq.ogg" for line in lines if line["id"] != cut]
    assert sorted(r for r in api.requests if r in others) == sorted(others)  # each downloaded once, and kept
    assert len(dataset.plugin.load_split(data_dir, "development")) == N


def part_size_after(size: int) -> int:
    """What three tries of a response cut at half its body leave: 1/2, then 3/4, then 7/8."""
    have = 0
    for _ in range(mined.ATTEMPTS):
        have += (size - have) // 2
    return have


def test_a_preview_served_as_an_error_page_with_200_is_refused(world, monkeypatch):
    api, manifest, lines, data_root = world
    wrong = lines[3]["id"]
    serve_preview = standin._Handler._serve_preview

    def error_page(handler, sound_id, content_type):
        if sound_id != wrong:
            return serve_preview(handler, sound_id, content_type)
        handler._send(200, b"<html><body>Please log in</body></html>", "text/html; charset=utf-8")

    monkeypatch.setattr(standin._Handler, "_serve_preview", error_page)
    with pytest.raises(BenchError) as caught:
        prepare(manifest, data_root)
    assert str(caught.value) == (f"dataset 'freesound_mined': {api.preview_url(wrong)} answered with Content-Type text/html, "
                                 f"not audio/ogg or application/ogg or audio/vorbis: not {wrong}.ogg (an error page?); "
                                 "nothing of it was kept")
    folder = data_root / "freesound_mined" / "development"
    assert not list(folder.glob(f"{wrong}.ogg*"))
    monkeypatch.setattr(standin._Handler, "_serve_preview", serve_preview)
    assert len(prepare(manifest, data_root).plugin.load_split(folder.parent, "development")) == N


def test_the_attribution_lists_every_kept_sound_and_the_duty_to_credit(world):
    api, manifest, lines, data_root = world
    api.delete(lines[0]["id"])
    dataset = prepare(manifest, data_root)
    kept = lines[1:]
    rows = read_rows(dataset.data_dir / "ATTRIBUTION.csv")
    assert [(r["file_name"], r["author"], r["license_url"], r["url"]) for r in rows] == [
        (f"{line['id']}.ogg", line["author"], line["license"], line["url"]) for line in kept]
    assert {r["license"] for r in rows} <= {"CC0 1.0", "CC BY 4.0", "CC BY-NC 4.0", "CC BY 3.0"}
    text = (dataset.data_dir / "ATTRIBUTION.md").read_text(encoding="utf-8")
    assert mined.DUTY in text and f"The {N - 1} sounds of this dataset come from Freesound" in text
    assert all(f"| {line['id']}.ogg | {line['url']} | {line['author']} | [" in text for line in kept)
    assert lines[0]["url"] not in text


@pytest.mark.parametrize("url, name", [
    ("http://creativecommons.org/licenses/by/4.0/", "CC BY 4.0"),
    ("https://creativecommons.org/licenses/by-nc/3.0/", "CC BY-NC 3.0"),
    ("http://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0"),
    ("http://creativecommons.org/licenses/sampling+/1.0/", "Sampling+ 1.0"),
    ("https://example.org/my-license", "https://example.org/my-license"),
])
def test_license_urls_are_named(url, name):
    assert mined.license_name(url) == name


def test_a_second_preparation_downloads_nothing(world):
    api, manifest, lines, data_root = world
    first = prepare(manifest, data_root)
    assert sorted(preview_requests(api)) == sorted(f"/previews/{line['id']}-hq.ogg" for line in lines)
    before = len(api.requests)
    second = prepare(manifest, data_root)
    assert api.requests[before:] == [] and second.key == first.key
    assert second.split("train").file_names == first.split("train").file_names


def test_a_changed_manifest_changes_the_key_and_the_splits_content(world):
    api, manifest, lines, data_root = world
    manager = get_plugin_manager()
    first = prepare(manifest, data_root)
    assert first.key == f"freesound_mined-data-{first.fingerprint[:8]}" and first.storage_key == "freesound_mined"
    content = first.split("train").fingerprint
    edited = [dict(line) for line in lines]
    edited[0]["description"] = "A cat meows."
    write_manifest(manifest, edited)
    changed = open_dataset(manager, "freesound_mined", {"manifest": str(manifest)}, data_root)
    assert changed.key != first.key and changed.fingerprint != first.fingerprint
    with pytest.raises(BenchError, match=r"is not prepared for manifest .*; run `bench prepare` for it"):
        changed.split("train")
    before = len(api.requests)
    changed.prepare()
    assert api.requests[before:] == []  # the same sounds: their previews are kept
    development = changed.plugin.load_split(changed.data_dir, "development")
    assert development.captions[0] == ("A cat meows.",) and development.fingerprint != content


def test_a_missing_manifest_is_a_one_line_error_saying_how_to_make_one(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))  # where bench mine would have written it
    with pytest.raises(BenchError) as caught:
        open_dataset(get_plugin_manager(), "freesound_mined", {}, tmp_path)
    message = str(caught.value)
    default = tmp_path / "home" / "mined" / "freesound" / "manifest.jsonl"
    assert message.startswith(f"dataset 'freesound_mined': manifest {default} not found: ")
    assert "run `bench mine freesound` (with FREESOUND_TOKEN set, or -O dump=FILE)" in message
    assert message.endswith("or pass -D manifest=PATH") and "\n" not in message
    assert main(["prepare", "--dataset", "freesound_mined", "-D", f"manifest={tmp_path / 'absent.jsonl'}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"manifest {tmp_path / 'absent.jsonl'} not found" in err


@pytest.mark.parametrize("line, problem", [
    ("not json", "not JSON"),
    ("[1, 2]", "expected a JSON object, found list"),
    ('{"id": "7"}', "field 'id' must be a int, found '7'"),
    ('{"id": 7, "description": " ", "license": "l", "author": "a", "preview": "http://h/7.ogg", "url": "u"}',
     "sound 7 has an empty description"),
    ('{"id": 7, "description": "d", "license": "l", "author": "a", "preview": "http://h/7.wav", "url": "u"}',
     "is not an http(s) URL of an .ogg or .mp3 file"),
    ('{"id": 1000, "description": "d", "license": "l", "author": "a", "preview": "http://h/7.ogg", "url": "u"}',
     "sound 1000 is listed again (first on line 1)"),
])
def test_a_bad_manifest_line_is_named(world, line, problem):
    api, manifest, lines, data_root = world
    manifest.write_text(json.dumps(lines[0]) + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(BenchError) as caught:
        prepare(manifest, data_root)
    assert f"manifest {manifest}, line 2: " in str(caught.value) and problem in str(caught.value)
    assert api.requests == []  # checked before any download


@pytest.mark.slow
def test_a_run_trains_and_scores_on_the_mined_previews(world, tmp_path, monkeypatch):
    api, manifest, lines, data_root = world
    args = ["--dataset", "freesound_mined", "-D", f"manifest={manifest}", "-D", "validation_share=0.25",
            "--data-dir", data_root]
    assert main([str(a) for a in ["prepare", *args]]) == 0
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the run needs nothing from the network: the previews are here
    code = main([str(a) for a in ["run", "--system", "ranking", *args, "--expert-weights", "random",
                                  "--set", "experts=[{name: logmel, frame_rate: 2.0}]", "--set", "schedule.epochs=1",
                                  "--set", "batch_size=4", "--cache-dir", tmp_path / "cache", "--output", tmp_path / "out"]])
    assert code == 0
    (path,) = (tmp_path / "out").glob("freesound_mined-*/ranking-set-*/seed-0.json")
    result = json.loads(path.read_text())
    assert result["dataset_name"] == "freesound_mined" and result["n_test_captions"] == 2
    assert result["protocol"]["train"] == "train" and result["protocol"]["test"] == "validation"
    assert result["dataset_source"]["manifest"] == str(manifest) and result["dataset_source"]["kept"] == N


@pytest.mark.slow
def test_a_system_pretrains_on_the_mined_previews_before_its_own_dataset(world, tmp_path, monkeypatch):
    from tests.conftest import TINY, dataset_args

    api, manifest, lines, data_root = world
    mined_set = f"{{name: freesound_mined, options: {{manifest: '{manifest}', validation_share: 0.25}}}}"
    pretrain = f"pretrain={{datasets: [{mined_set}], epochs: 1}}"
    code = main([str(a) for a in ["run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY),
                                  "--data-dir", data_root, "--set", pretrain, "--expert-weights", "random",
                                  "--set", "experts=[{name: logmel, frame_rate: 2.0}]", "--set", "schedule.epochs=1",
                                  "--set", "batch_size=4", "--cache-dir", tmp_path / "cache", "--output", tmp_path / "out"]])
    assert code == 0
    result = json.loads(next((tmp_path / "out").glob("synthetic*/ranking-set-*/seed-0.json")).read_text())
    (key,) = result["pretrain"]["datasets"]
    assert key.startswith("freesound_mined-") and "-data-" in key and result["pretrain"]["n_clips"] == N - 2
