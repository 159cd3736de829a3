"""The report's whole Freesound chain on the API stand-in, through the CLI as a user runs it:
harvest → ``bench mine freesound`` → ``freesound_mined`` previews → ``bench run`` pre-training
on the mined pairs. Clotho's own sounds, planted in the harvest, never reach the run."""

from __future__ import annotations

import json

import pytest

from bench_plugins.datasets.freesound import corpus
from benchmark.cli import main
from tests.conftest import TINY, dataset_args
from tests.plugins.datasets.freesound.standin import PLACEHOLDER, serve_freesound
from tests.plugins.datasets.freesound.test_api import TOKEN


def on_the_standin(record: dict) -> dict:
    """``record`` with its previews served by the stand-in."""
    previews = {key: f"{PLACEHOLDER}/previews/{record['id']}-{key.removeprefix('preview-').replace('-', '.')}"
                for key in record["previews"]}
    return {**record, "previews": previews}


@pytest.mark.slow
def test_harvest_mine_download_and_pretrain_run_end_to_end_without_a_clotho_sound(tmp_path, monkeypatch):
    generated = corpus.generate(600, development=300, evaluation=100, seed=3)
    records = [on_the_standin(r) for r in generated.records]
    caption_like = [r for r, kind in zip(records, generated.kinds) if kind == "caption" and 3 <= r["duration"] <= 120]
    clotho_sounds = {split: caption_like[i::3][:2] for i, split in enumerate(("development", "validation", "evaluation"))}
    planted = {r["id"] for group in clotho_sounds.values() for r in group}
    clotho = tmp_path / "clotho"
    for split, captions in (("development", generated.development), ("validation", generated.evaluation[:50]),
                            ("evaluation", generated.evaluation)):
        own = [r["id"] for r in clotho_sounds[split]]
        corpus.write_clotho_split(clotho / "v2.1", split, captions, [*own, *range(9_000_000, 9_000_000 + len(captions) - len(own))])

    home = tmp_path / "home"
    monkeypatch.setenv("BENCH_HOME", str(home))
    monkeypatch.setenv("FREESOUND_TOKEN", TOKEN)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the previews come from 127.0.0.1
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    with serve_freesound(records, token=TOKEN) as api:
        monkeypatch.setenv("FREESOUND_API_URL", api.url)
        assert main(["mine", "freesound", "-O", f"clotho_dir={clotho}", "-O", "per_minute=100000"]) == 0
        manifest = home / "mined" / "freesound" / "manifest.jsonl"
        mined = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
        assert len(mined) >= 8 and not planted & {entry["id"] for entry in mined}
        api.delete(mined[0]["id"])  # gone upstream between mining and download

        mined_set = "{name: freesound_mined, options: {validation_share: 0.25}}"
        code = main([str(a) for a in [
            "run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), "--expert-weights", "random",
            "--set", f"pretrain={{datasets: [{mined_set}], epochs: 1}}", "--set", "experts=[{name: logmel, frame_rate: 2.0}]",
            "--set", "schedule.epochs=1", "--set", "batch_size=4", "--output", tmp_path / "out"]])
    assert code == 0
    result = json.loads(next((tmp_path / "out").glob("synthetic*/ranking-set-*/seed-0.json")).read_text())
    (key,) = result["pretrain"]["datasets"]
    assert key.startswith("freesound_mined-") and "-data-" in key and result["pretrain"]["n_clips"] >= 5
    data = home / "datasets" / "freesound_mined"
    clips = {p.stem for p in (data / "development").iterdir() if p.suffix == ".ogg"}
    assert clips == {str(entry["id"]) for entry in mined[1:]}  # every kept sound but the deleted one
    assert not planted & {int(c) for c in clips}
    attribution = (data / "ATTRIBUTION.csv").read_text(encoding="utf-8")
    assert all(entry["url"] in attribution for entry in mined[1:])


def test_a_recipe_whose_mined_pairs_are_missing_says_so_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    code = main(["run", "--system", "cider_relax_report", "--dataset", "synthetic", "--expert-weights", "random",
                 "--output", str(tmp_path / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "manifest" in err and "run `bench mine freesound`" in err and err.count("\n") == 1
    assert not (tmp_path / "home" / "datasets").exists()  # nothing prepared, generated or extracted
