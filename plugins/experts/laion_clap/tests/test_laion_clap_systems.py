"""The systems this package registers: LAION-CLAP zero-shot, and cider_relax with LAION-CLAP
as a fifth expert; the zero-shot one runs end to end on the synthetic set with random weights."""

import json

import pytest

from benchmark.cli import main
from benchmark.config import resolve_system
from benchmark.plugins import get_plugin_manager
from benchmark.results import read

#: The smallest synthetic set a run takes: a few clips of under a second (one window each).
TINY = {"n_development": 4, "n_validation": 4, "n_evaluation": 6, "min_seconds": 0.5, "max_seconds": 1.0}


def test_the_zero_shot_system_pairs_the_expert_and_the_text_encoder_and_trains_nothing():
    manager = get_plugin_manager()
    config = resolve_system("laion_clap", manager)
    assert config["experts"] == [{"name": "laion_clap"}] and config["head"] == {"name": "average"}
    assert config["text_encoder"] == {"name": "laion_clap_text", "trainable": False}
    assert config["loss"] is None and config["schedule"]["epochs"] == 0
    assert manager.load("experts", "laion_clap").dim == manager.load("text_encoders", "laion_clap_text").dim == 512
    description = " ".join(config["description"].split())
    assert "630k-audioset-best.pt" in description
    assert "trained with the Clotho and AudioCaps training data and selected on Clotho's test split" in description


def test_cider_relax_plus_laion_clap_is_cider_relax_with_a_fifth_expert():
    manager = get_plugin_manager()
    ours, reference = resolve_system("cider_relax_plus_laion_clap", manager), resolve_system("cider_relax", manager)
    assert [e["name"] for e in ours["experts"]] == [e["name"] for e in reference["experts"]] + ["laion_clap"]
    assert ours["inherits"] == ["cider_relax"]
    for key in ("head", "fusion", "text_encoder", "loss", "optimizer", "schedule", "batch_size"):
        assert ours[key] == reference[key], key


@pytest.mark.slow
def test_the_zero_shot_system_runs_end_to_end_with_random_weights(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    options = [arg for key, value in TINY.items() for arg in ("-D", f"{key}={value}")]
    code = main(["run", "--system", "laion_clap", "--dataset", "synthetic", *options, "--expert-weights", "random",
                 "--device", "cpu", "--output", str(tmp_path / "results")])
    assert code == 0, capsys.readouterr().err
    (path,) = (tmp_path / "results").glob("synthetic*/laion_clap/seed-0.json")
    result = read(path)
    assert result.checkpoint["zero_shot"] and result.history == []
    assert 0 <= result.metrics["text_to_audio"]["mAP@10"] <= 1
    assert "last one aligned to the clip's end" in result.experts["laion_clap"]["long_clips"]
    assert result.experts["laion_clap"]["weights"] == {"random": 0}
    assert result.text_encoder["tokenizer"] == "utf8-bytes stand-in (random weights only)"


@pytest.mark.slow
def test_a_zero_shot_run_on_real_files_longer_and_shorter_than_the_window_is_scored(tmp_path, monkeypatch):
    from benchmark.testing import audio_folder

    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    lengths = [0.2, 10 * 2.5, 3.0]  # shorter than a window, two and a half windows, one
    folder = audio_folder(tmp_path / "clips", {"development": lengths, "validation": lengths, "evaluation": lengths},
                          rate=22050)
    arguments = ["run", "--system", "laion_clap", "--dataset", "folder", "-D", f"path={folder}", "--expert-weights", "random",
                 "--device", "cpu", "--output", str(tmp_path / "results")]
    assert main(arguments) == 0
    (path,) = (tmp_path / "results").glob("folder-*/laion_clap/seed-0.json")
    result = json.loads(path.read_text())
    assert result["checkpoint"]["zero_shot"] is True and result["n_test_captions"] == 6
    assert result["text_encoder"]["weights"] == {"random": 0}  # --expert-weights reached the caption encoder
    assert 0 <= result["metrics"]["text_to_audio"]["mAP@10"] <= 1
