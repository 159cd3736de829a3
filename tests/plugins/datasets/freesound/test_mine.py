"""`bench mine freesound` on the generated corpus with planted records: Clotho's sounds never
reach the manifest, nor evaluation captions or their near copies; repeats are kept once; the
duration bounds and the threshold hold; the report's counts add up; bad options are one-line
errors before any work; the harvest path resumes."""

from __future__ import annotations

import json
import random
import shutil
from itertools import combinations
from pathlib import Path

import pytest
import torch

from bench_plugins.datasets.clotho import read_sound_ids
from bench_plugins.datasets.freesound import corpus
from bench_plugins.datasets.freesound.filters import CaptionIndex, is_english, normalise
from bench_plugins.datasets.freesound.mine import CLASSIFIER_FILE, MANIFEST, REPORT_JSON, REPORT_MD, SCORES_FILE, FreesoundMiner
from benchmark.api import BenchError, MineContext
from benchmark.cli import main
from tests.plugins.datasets.freesound.standin import serve_freesound
from tests.plugins.datasets.freesound.test_api import TOKEN

#: Planted sound ids start here, above every id of the generated records.
PLANTED = 50_000_000
#: The manifest's fields (the shared format).
FIELDS = {"id", "description", "score", "duration", "license", "author", "preview", "url"}


def record(sound_id: int, description: str, duration: float = 10.0) -> dict:
    """A harvest record in the shared format."""
    base = f"https://cdn.freesound.org/previews/{sound_id // 1000}/{sound_id}_7"
    return {"id": sound_id, "name": f"take {sound_id}", "description": description, "tags": ["field-recording"],
            "duration": duration, "license": "https://creativecommons.org/licenses/by/4.0/", "username": "planter",
            "previews": {"preview-lq-mp3": f"{base}-lq.mp3", "preview-hq-ogg": f"{base}-hq.ogg",
                         "preview-lq-ogg": f"{base}-lq.ogg", "preview-hq-mp3": f"{base}-hq.mp3"}}


class World:
    """The generated corpus, the planted records (by purpose) and the files written from them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.generated = corpus.generate(3000, development=300, evaluation=100, seed=1)
        rng = random.Random(11)
        fresh = iter(caption for caption in (corpus.caption(rng) for _ in range(400))
                     if caption not in {c for five in self.generated.evaluation for c in five})
        ids = iter(range(PLANTED, PLANTED + 1000))
        # Caption-like sounds of 10 s that Clotho uses: the leakage trap, one group per split or release.
        self.leaked = {where: [record(next(ids), next(fresh)) for _ in range(3)]
                       for where in ("development", "validation", "evaluation", "v1 development")}
        # Near copies of evaluation captions: case and punctuation only, and one word changed.
        long = next(c for five in self.generated.evaluation for c in five if len(set(normalise(c).split())) >= 10)
        words = long.split()
        words[-1] = "xylophones" + words[-1][-1:]
        self.evaluation_copy = record(next(ids), "  " + long.upper().replace(" ", " ,  ") + "!!")
        self.evaluation_near = record(next(ids), " ".join(words))
        # One description on three sounds (case, punctuation and spaces differ), lowest id not first.
        repeated = next(fresh)
        first = next(ids)
        self.repeats = [record(first + 10, repeated), record(first, repeated.lower().rstrip(".") + "  !"),
                        record(first + 20, repeated.upper())]
        next(ids), next(ids)
        # Durations around the bounds.
        self.durations = {seconds: record(next(ids), next(fresh), seconds) for seconds in (2.99, 3.0, 120.0, 120.01)}
        self.spanish = record(next(ids), "Un perro ladra mientras pasan los coches por una carretera mojada.")
        self.kept_control = record(next(ids), next(fresh))
        self.planted = [*(r for group in self.leaked.values() for r in group), self.evaluation_copy,
                        self.evaluation_near, *self.repeats, *self.durations.values(), self.spanish, self.kept_control]
        self.dump = corpus.write_dump([*self.generated.records, *self.planted], root / "dump.jsonl")
        self.clotho = self.write_clotho(root / "clotho", leaks=True)
        self.clean = self.write_clotho(root / "clotho-clean", leaks=False)

    def write_clotho(self, directory: Path, leaks: bool) -> Path:
        """v2.1-like development, validation and evaluation CSVs in ``directory/v2.1``, and a
        v1 development metadata CSV in ``directory/v1``; with ``leaks``, each split's metadata
        lists the sound ids of its planted group (among ids no record has, "Not found" and blank)."""
        def ids(where: str, n: int, offset: int) -> list[int | str]:
            own = [r["id"] for r in self.leaked[where]] if leaks else []
            return [*own, "Not found", "", *range(9_000_000 + offset, 9_000_000 + offset + n - len(own) - 2)]

        splits = {"development": self.generated.development, "validation": self.generated.evaluation[:40],
                  "evaluation": self.generated.evaluation}
        for offset, (split, captions) in enumerate(splits.items()):
            corpus.write_clotho_split(directory / "v2.1", split, captions, ids(split, len(captions), 10_000 * offset))
        corpus.write_clotho_split(directory / "v1", "development", self.generated.development[:50],
                                  ids("v1 development", 50, 50_000))
        (directory / "v1" / "clotho_captions_development.csv").unlink()  # metadata alone is enough
        return directory


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    return World(tmp_path_factory.mktemp("freesound-world"))


def ctx(output: Path, data_root: Path | None = None) -> MineContext:
    return MineContext(output, data_root or output / "data", output / "cache", torch.device("cpu"),
                       log=lambda line: None)


@pytest.fixture(scope="module")
def trained(world: World, tmp_path_factory) -> Path:
    """A first run: its classifier and scores are copied into the other runs' outputs
    (same descriptions and captions, so they are reused and each run takes seconds)."""
    output = tmp_path_factory.mktemp("mined")
    FreesoundMiner(dump=str(world.dump), clotho_dir=str(world.clotho)).run(ctx(output))
    return output


def mine(world: World, trained: Path, output: Path, **options) -> tuple[list[dict], dict]:
    """Run the miner with ``options``; its manifest and report."""
    output.mkdir(parents=True, exist_ok=True)
    for name in (CLASSIFIER_FILE, SCORES_FILE):
        shutil.copy(trained / name, output / name)
    FreesoundMiner(**{"dump": str(world.dump), "clotho_dir": str(world.clotho), **options}).run(ctx(output))
    return read(output)


def read(output: Path) -> tuple[list[dict], dict]:
    lines = (output / MANIFEST).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines], json.loads((output / REPORT_JSON).read_text(encoding="utf-8"))


def ids(manifest: list[dict]) -> set[int]:
    return {entry["id"] for entry in manifest}


def test_the_planted_clotho_metadata_is_in_the_releases_format(world):
    """The CSVs the tests write read back through Clotho's own reader, ids and all."""
    sounds = read_sound_ids(world.clotho / "v2.1" / "clotho_metadata_validation.csv")
    assert {r["id"] for r in world.leaked["validation"]} <= {int(s) for s in sounds.values() if s.isdigit()}
    assert "Not found" in sounds.values()


def test_no_sound_of_any_clotho_split_or_release_reaches_the_manifest(world, trained, tmp_path):
    leaked = {r["id"] for group in world.leaked.values() for r in group}
    control, _ = mine(world, trained, tmp_path / "clean", clotho_dir=str(world.clean))
    assert leaked <= ids(control)  # without their metadata, these sounds would be kept
    manifest, report = read(trained)
    assert not leaked & ids(manifest)
    step = next(row for row in report["steps"] if row["step"] == "clotho_sound")
    assert step["removed"] == len(leaked)
    # Every numeric sound id of every metadata file ("Not found" and blank rows are no sound).
    assert report["clotho"]["sound_ids"] == (300 - 2) + (40 - 2) + (100 - 2) + (50 - 2)


def test_descriptions_equal_or_near_an_evaluation_caption_are_removed(world, trained, tmp_path):
    copy, near = world.evaluation_copy["id"], world.evaluation_near["id"]
    manifest, _ = read(trained)
    assert not {copy, near} & ids(manifest)
    assert world.kept_control["id"] in ids(manifest)
    exact_only, _ = mine(world, trained, tmp_path, near_duplicate=1.0)  # equal after normalising only
    assert near in ids(exact_only) and copy not in ids(exact_only)


def test_a_repeated_description_is_kept_once_for_its_lowest_id(world, trained):
    manifest, report = read(trained)
    repeats = {r["id"] for r in world.repeats}
    assert ids(manifest) & repeats == {min(repeats)}
    assert next(row for row in report["steps"] if row["step"] == "duplicate")["removed"] >= 2
    texts = [normalise(entry["description"]) for entry in manifest]
    assert len(texts) == len(set(texts))


def test_the_duration_bounds_are_inclusive(world, trained, tmp_path):
    manifest, _ = read(trained)
    kept = {seconds for seconds, r in world.durations.items() if r["id"] in ids(manifest)}
    assert kept == {3.0, 120.0}
    assert all(3.0 <= entry["duration"] <= 120.0 for entry in manifest)
    wider, _ = mine(world, trained, tmp_path, min_seconds=2.99, max_seconds=120.01)
    assert {r["id"] for r in world.durations.values()} <= ids(wider)


def test_only_scores_above_the_threshold_are_kept(world, trained, tmp_path):
    manifest, report = read(trained)
    assert manifest and all(entry["score"] > 0.2 for entry in manifest)
    stricter, strict_report = mine(world, trained, tmp_path / "half", threshold=0.5)
    assert ids(stricter) == {entry["id"] for entry in manifest if entry["score"] > 0.5} != ids(manifest)
    assert strict_report["threshold"] == 0.5 and report["threshold"] == 0.2
    none, _ = mine(world, trained, tmp_path / "one", threshold=1.0)
    assert none == []


def test_the_report_counts_add_up(world, trained):
    manifest, report = read(trained)
    steps = report["steps"]
    assert [row["step"] for row in steps] == ["descriptions", "empty", "not_english", "threshold", "duration",
                                              "clotho_sound", "evaluation_caption", "duplicate"]
    assert steps[0]["left"] == len(world.generated.records) + len(world.planted)
    for before, row in zip(steps, steps[1:]):
        assert row["removed"] >= 0 and row["removed"] + row["left"] == before["left"]
    assert steps[-1]["left"] == report["kept"] == len(manifest)
    kinds = world.generated.kinds
    assert steps[1]["removed"] == kinds.count("empty")
    assert steps[2]["removed"] == kinds.count("foreign") + 1  # and the planted Spanish sentence
    assert world.spanish["id"] not in ids(manifest)
    training = report["classifier"]
    assert training["name"] == "ngram" and 0.9 < training["held_out_auc"] <= 1.0
    developments = len({c for five in world.generated.development for c in five})
    assert training["train"]["clotho"] + training["held_out"]["clotho"] == developments
    assert training["held_out"]["clotho"] == -(-developments // 10)
    markdown = (trained / REPORT_MD).read_text(encoding="utf-8")
    assert f"**{len(manifest):,}**" in markdown and f"{training['held_out_auc']:.4f}" in markdown


def test_manifest_entries_are_in_the_shared_format(world, trained):
    manifest, _ = read(trained)
    control = next(entry for entry in manifest if entry["id"] == world.kept_control["id"])
    assert set(control) == FIELDS
    assert control["preview"] == world.kept_control["previews"]["preview-hq-ogg"]
    assert control["url"] == f"https://freesound.org/people/planter/sounds/{control['id']}/"
    assert control["author"] == "planter" and control["description"] == world.kept_control["description"]
    assert [entry["id"] for entry in manifest] == sorted(ids(manifest))


def test_a_rerun_reuses_the_classifier_and_rewrites_the_outputs(world, trained, tmp_path):
    manifest, report = read(trained)
    assert report["classifier"]["reused"] is False
    again, again_report = mine(world, trained, tmp_path / "again")
    assert again == manifest and again_report["classifier"]["reused"] is True
    assert again_report["classifier"]["held_out_auc"] == report["classifier"]["held_out_auc"]
    # Other descriptions: trained again, and every output written anew.
    dump = corpus.write_dump([*world.generated.records[:-1], *world.planted], tmp_path / "fewer.jsonl")
    (tmp_path / "again" / MANIFEST).write_text("stale\n")
    fewer, fewer_report = mine(world, trained, tmp_path / "again", dump=str(dump))
    assert fewer_report["classifier"]["reused"] is False
    assert fewer_report["steps"][0]["left"] == report["steps"][0]["left"] - 1 and fewer


def test_the_index_finds_exactly_the_pairs_a_full_comparison_finds():
    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(30)]
    captions = [" ".join(rng.sample(vocabulary, rng.randint(1, 12))) for _ in range(300)]
    queries = [*captions[:50], *(" ".join(rng.sample(vocabulary, rng.randint(1, 12))) for _ in range(300))]
    for threshold in (0.5, 0.8, 0.9, 1.0):
        index = CaptionIndex(captions, threshold)
        for query in queries:
            q = set(query.split())
            expected = any(len(q & set(c.split())) / len(q | set(c.split())) >= threshold for c in captions)
            assert index.near(query) == expected, (threshold, query)


def test_normalising_ignores_case_punctuation_and_spaces():
    assert normalise("  A dog, BARKS!\n while   cars pass... ") == "a dog barks while cars pass"
    assert CaptionIndex(["A dog barks."], 1.0).near("a DOG  barks")
    assert not CaptionIndex(["A dog barks."], 0.8).near("")


@pytest.mark.parametrize("text, english", [
    ("A dog barks while cars pass by on a wet road", True),
    ("dog bark animal pet field-recording", True),
    ("Mic: Clippy EM172, Recorder: Zoom H4n", True),
    ("Recorded in Paris at the Gare du Nord", True),
    ("Lluvia en la calle por la noche", False),
    ("Die Tür knarrt und der Hund bellt", False),
    ("Запись дождя на улице", False),
    ("雨の音を録音しました", False),
])
def test_the_english_test(text, english):
    assert is_english(text) is english


def bench(*args) -> int:
    return main([str(a) for a in args])


def test_bench_mine_freesound_runs_end_to_end(world, trained, tmp_path, capsys):
    output = tmp_path / "mined"
    output.mkdir()
    for name in (CLASSIFIER_FILE, SCORES_FILE):
        shutil.copy(trained / name, output / name)
    code = bench("mine", "freesound", "-O", f"dump={world.dump}", "-O", f"clotho_dir={world.clotho}",
                 "-O", "threshold=0.2", "--output", output)
    out = capsys.readouterr().out
    assert code == 0
    manifest, report = read(output)
    assert f"kept {len(manifest):,}" in out and "held-out ROC AUC" in out and str(output / MANIFEST) in out
    assert manifest == read(trained)[0]
    assert "v2.1 validation" in out  # the fixtures are no release's files: the note says what was not checked


@pytest.mark.parametrize("options, message", [
    (["threshold=1.5"], "option threshold=1.5 must be from 0 to 1"),
    (["threshold=-0.1"], "option threshold=-0.1 must be from 0 to 1"),
    (["min_seconds=10", "max_seconds=5"], "option min_seconds=10 is above max_seconds=5"),
    (["classifier=bert"], "unknown classifier 'bert'"),
    (["held_out=0"], "option held_out=0 must be a share between 0 and 1"),
    (["colour=red"], "has no option 'colour'"),
])
def test_bad_options_are_one_line_errors_before_any_work(world, tmp_path, capsys, options, message):
    output = tmp_path / "never"
    args = [arg for option in options for arg in ("-O", option)]
    assert bench("mine", "freesound", "-O", f"dump={world.dump}", "-O", f"clotho_dir={world.clotho}", *args,
                 "--output", output) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "miner 'freesound'" in err
    assert not output.exists()


def test_a_missing_dump_or_clotho_dir_is_a_one_line_error_before_any_work(world, tmp_path, capsys):
    output = tmp_path / "never"
    assert bench("mine", "freesound", "-O", f"dump={tmp_path / 'none.jsonl'}", "--output", output) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"option dump={tmp_path / 'none.jsonl'}: no such file" in err
    assert bench("mine", "freesound", "-O", f"dump={world.dump}", "-O", f"clotho_dir={tmp_path / 'no'}",
                 "--output", output) == 2
    assert "clotho_dir" in capsys.readouterr().err and not output.exists()


def test_clotho_captions_without_their_metadata_are_refused(world, tmp_path):
    shutil.copytree(world.clotho, tmp_path / "clotho")
    (tmp_path / "clotho" / "v2.1" / "clotho_metadata_validation.csv").unlink()
    miner = FreesoundMiner(dump=str(world.dump), clotho_dir=str(tmp_path / "clotho"))
    with pytest.raises(BenchError, match="clotho_captions_validation.csv has no clotho_metadata_validation.csv"):
        miner.run(ctx(tmp_path / "out"))
    (tmp_path / "clotho" / "v2.1" / "clotho_captions_evaluation.csv").unlink()
    with pytest.raises(BenchError, match="holds no clotho_captions_evaluation.csv"):
        miner.run(ctx(tmp_path / "out"))
    assert not (tmp_path / "out" / MANIFEST).exists()


def test_offline_without_clotho_dir_the_csv_to_fetch_is_named(world, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    data = tmp_path / "data"
    assert bench("mine", "freesound", "-O", f"dump={world.dump}", "--data-dir", data, "--output", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "clotho_captions_development.csv" in err and f"put it at {data / 'clotho_csv' / 'v1'}" in err


def test_without_a_dump_the_harvest_runs_resumes_and_is_mined(world, tmp_path, monkeypatch):
    records = [*world.generated.records[:400], world.kept_control]
    monkeypatch.setenv("FREESOUND_TOKEN", TOKEN)
    with serve_freesound(records, token=TOKEN) as api:
        monkeypatch.setenv("FREESOUND_API_URL", api.url)
        output = tmp_path / "mined"
        lines = FreesoundMiner(clotho_dir=str(world.clotho), max_requests=1, per_minute=100_000).run(ctx(output))
        assert "not complete" in lines[0] and not (output / MANIFEST).exists()
        lines = FreesoundMiner(clotho_dir=str(world.clotho), max_requests=10, per_minute=100_000).run(ctx(output))
        assert api.pages() == [1, 2, 3]  # the first page was not fetched again
    manifest, report = read(output)
    assert report["steps"][0]["left"] == len(records) and report["source"]["harvest"] == str(output / "harvest")
    assert world.kept_control["id"] in ids(manifest)
    assert lines[0].startswith(f"harvest {output / 'harvest'}: 401 sounds")
    monkeypatch.delenv("FREESOUND_TOKEN")  # a finished harvest is mined again with no token and no server
    again = FreesoundMiner(clotho_dir=str(world.clotho)).run(ctx(output))
    assert again[0] == lines[0] and again[1] == lines[1] + " (reused)"
    assert read(output)[0] == manifest


def test_without_a_dump_or_a_token_the_error_says_what_to_do(world, monkeypatch, tmp_path):
    monkeypatch.delenv("FREESOUND_TOKEN", raising=False)
    with pytest.raises(BenchError, match="no Freesound API token: set FREESOUND_TOKEN") as caught:
        FreesoundMiner(clotho_dir=str(world.clotho)).run(ctx(tmp_path))
    assert "\n" not in str(caught.value) and not (tmp_path / MANIFEST).exists()


def test_the_near_duplicate_rule_is_symmetric_in_its_inputs():
    texts = ["a dog barks on a wet road today", "a dog barks on a dry road today", "birds sing"]
    for a, b in combinations(texts, 2):
        assert CaptionIndex([a], 0.7).near(b) == CaptionIndex([b], 0.7).near(a)
