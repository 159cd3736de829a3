"""The package registers its expert, caption encoder and systems, and the zero-shot system
runs end to end on the synthetic set with random weights."""

import json

import pytest

from benchmark.cli import main
from benchmark.config import resolve_system
from benchmark.plugins import get_plugin_manager

DISTRIBUTION = "bench-expert-ms-clap"
TINY = {"n_development": 8, "n_validation": 4, "n_evaluation": 6, "min_seconds": 0.5, "max_seconds": 1.0}


@pytest.fixture(autouse=True)
def sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_bench_lists_the_expert_the_caption_encoder_and_both_systems_from_this_package(capsys):
    assert main(["list"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    ours = {(words[0], words[1]) for words in lines if len(words) > 2 and words[2] == DISTRIBUTION}
    assert ours == {("ms_clap", "experts"), ("ms_clap_text", "text_encoders"), ("ms_clap", "systems"),
                    ("cider_relax_plus_ms_clap", "systems")}


def test_the_zero_shot_system_averages_the_windows_against_the_text_tower():
    config = resolve_system("ms_clap", get_plugin_manager())
    assert config["experts"] == [{"name": "ms_clap"}] and config["head"] == {"name": "average"}
    assert config["text_encoder"] == {"name": "ms_clap_text", "trainable": False}
    assert config["loss"] is None and config["schedule"]["epochs"] == 0
    assert "ClothoV2" in config["description"] and "CLAP_weights_2022.pth" in config["description"]


def test_the_trained_alternative_is_cider_relax_with_a_fifth_expert():
    config = resolve_system("cider_relax_plus_ms_clap", get_plugin_manager())
    reference = resolve_system("cider_relax", get_plugin_manager())
    assert config["inherits"] == ["cider_relax"]
    assert config["experts"] == [*reference["experts"], {"name": "ms_clap"}]
    assert {k: v for k, v in config.items() if k not in ("name", "inherits", "experts", "description")} == \
        {k: v for k, v in reference.items() if k not in ("name", "inherits", "experts", "description")}


@pytest.mark.slow
def test_a_zero_shot_run_on_the_synthetic_set_with_random_weights_is_scored(tmp_path, capsys):
    arguments = ["run", "--system", "ms_clap", "--dataset", "synthetic", "--expert-weights", "random",
                 "--device", "cpu", "--output", str(tmp_path / "results")]
    for key, value in TINY.items():
        arguments += ["-D", f"{key}={value}"]
    assert main(arguments) == 0
    assert "zero-shot: ms_clap trains nothing" in capsys.readouterr().err
    (path,) = (tmp_path / "results").glob("synthetic*/ms_clap/seed-0.json")
    result = json.loads(path.read_text())
    assert result["checkpoint"]["zero_shot"] is True and result["history"] == []
    assert result["config"]["experts"] == [{"name": "ms_clap", "weights": "random"}]
    assert result["text_encoder"]["weights"] == {"random": 0} and result["text_encoder"]["max_tokens"] == 100
    assert 0 <= result["metrics"]["text_to_audio"]["mAP@10"] <= 1


@pytest.mark.slow
def test_a_zero_shot_run_on_real_files_longer_and_shorter_than_the_window_is_scored(tmp_path):
    from benchmark.testing import audio_folder

    lengths = [0.2, 5 * 2.5, 3.0]  # shorter than a window, two and a half windows, one
    folder = audio_folder(tmp_path / "clips", {"development": lengths, "validation": lengths, "evaluation": lengths},
                          rate=22050)
    arguments = ["run", "--system", "ms_clap", "--dataset", "folder", "-D", f"path={folder}", "--expert-weights", "random",
                 "--device", "cpu", "--output", str(tmp_path / "results")]
    assert main(arguments) == 0
    (path,) = (tmp_path / "results").glob("folder-*/ms_clap/seed-0.json")
    result = json.loads(path.read_text())
    assert result["checkpoint"]["zero_shot"] is True and result["n_test_captions"] == 6
    assert result["text_encoder"]["weights"] == {"random": 0}  # --expert-weights reached the caption encoder
    assert 0 <= result["metrics"]["text_to_audio"]["mAP@10"] <= 1
