import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from benchmark.queries import Expected, QueryRecord, config_digest
from benchmark.queries import read as read_queries
from benchmark.results import COLUMNS, environment, queries_path, read, record, result_path, run_dir, write


def test_layout_of_result_files_and_run_state():
    assert result_path(Path("r"), "clotho_v2", "cider_relax", 3) == Path("r/clotho_v2/cider_relax/seed-3.json")
    assert run_dir(Path("r"), "clotho_v2", "cider_relax", 3) == Path("r/clotho_v2/cider_relax/seed-3.run")


def test_environment_records_versions_and_the_commit():
    env = environment()
    assert env["packages"]["torch"] and env["packages"]["numpy"]
    commit = env["git_commit"]
    assert commit is None or re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", commit)


def finished_run(device_requested, device_type):
    """What :func:`record` reads of a finished run, faked: only the values it copies."""
    import torch

    plugin = SimpleNamespace(options=dict, source=dict, protocol_name="standard",
                             protocol={"train": "development", "validation": "validation", "test": "evaluation"})
    options = SimpleNamespace(system="ranking", seed=0, overrides=[], expert_weights=None, device=device_requested)
    run = SimpleNamespace(config={}, dataset=SimpleNamespace(key="synthetic-1", name="synthetic", plugin=plugin),
                          result=Path("seed-0.json"))
    features = SimpleNamespace(settings=dict, text_encoder=SimpleNamespace(settings=dict),
                               context=SimpleNamespace(world_size=1), device=torch.device(device_type))
    trainer = SimpleNamespace(batch_size=8, device=torch.device(device_type), resumed_from=None, history=[],
                              loss_evidence={"cider_thresholds": {"values": [0.1, 0.2, 0.3], "method": "exact"}})
    selected = SimpleNamespace(epoch=1, monitor="mAP@10", value=0.5, path=Path("best.pt"))
    queries = QueryRecord.from_similarity(np.eye(3, dtype=np.float32), ["a.wav", "b.wav", "c.wav"], [["a"], ["b"], ["c"]])
    scores = {"text_to_audio": dict.fromkeys(COLUMNS, 0.5), "audio_to_text": {}, "chance": {}, "n_captions": 5,
              "queries": queries, "intervals": {"mAP@10": [0.4, 0.6]},
              "relevance": {"own_clip": True, "identical_captions": True, "judged": False}}
    return options, run, features, (trainer, selected, scores), {}


def test_a_result_records_the_device_asked_for_whether_auto_fell_back_and_the_determinism_settings(tmp_path):
    import torch

    result = record(*finished_run("auto", "cpu"))
    assert (result.device, result.device_requested, result.device_fallback) == ("cpu", "auto", True)
    assert record(*finished_run("cpu", "cpu")).device_fallback is False  # asked for: no fallback
    settings = result.determinism
    assert settings["torch"] == torch.__version__ and settings["threads"] == torch.get_num_threads()
    assert settings["deterministic_algorithms"] == torch.are_deterministic_algorithms_enabled()
    assert settings["tf32_matmul"] == torch.backends.cuda.matmul.allow_tf32
    assert {"cudnn_deterministic", "cudnn_benchmark", "tf32_cudnn", "cublas_workspace_config"} <= set(settings)
    write(tmp_path / "seed-0.json", result)
    again = read(tmp_path / "seed-0.json")
    assert again.determinism == settings and again.device_fallback is True


def test_a_result_names_its_convention_intervals_and_per_query_record_written_before_it(tmp_path):
    options, run, features, (trainer, selected, scores), splits = finished_run("cpu", "cpu")
    result = record(options, run, features, (trainer, selected, scores), splits)
    assert result.convention == "dcase2022" and result.intervals == {"mAP@10": [0.4, 0.6]}
    assert result.relevance == {"own_clip": True, "identical_captions": True, "judged": False}
    assert result.queries == {"file": "seed-0.queries.npz", "split": scores["queries"].split}
    write(tmp_path / "seed-0.json", result, scores["queries"])
    assert queries_path(tmp_path / "seed-0.json") == tmp_path / "seed-0.queries.npz"
    expected = Expected(result.queries["split"], 0, config_digest(result.config), 3, 3)
    assert read_queries(tmp_path / "seed-0.queries.npz", expected).top.shape == (3, 3)


def test_a_result_records_what_the_loss_derived_from_the_data(tmp_path):
    options, run, features, (trainer, selected, scores), splits = finished_run("cpu", "cpu")
    result = record(options, run, features, (trainer, selected, scores), splits)
    assert result.loss_evidence == trainer.loss_evidence
    write(tmp_path / "seed-0.json", result)
    assert read(tmp_path / "seed-0.json").loss_evidence == trainer.loss_evidence
    zero_shot = record(options, run, features, (None, None, scores), splits)
    assert zero_shot.loss_evidence is None and "loss_evidence" not in zero_shot.to_json()


BEFORE_RECORDS = Path(__file__).parent / "data" / "result-before-records.json"


def test_a_file_written_before_records_intervals_and_determinism_reads_and_is_written_back_unchanged():
    """A result of the committed record as it was before per-query records (a copy)."""
    result = read(BEFORE_RECORDS)
    assert result.determinism is None and result.device_requested is None and result.device_fallback is None
    assert not result.queries and not result.intervals
    assert result.to_json() == json.loads(BEFORE_RECORDS.read_text())


def test_every_committed_result_keeps_a_record_that_rescores_to_its_metrics_under_dcase2022():
    """The ``dcase2022`` convention equals the scorer that wrote each committed result."""
    from benchmark.conventions import convention, scores
    from benchmark.rescoring import load

    committed = sorted(Path(__file__).parents[2].glob("leaderboard/results/*/*/seed-*.json"))
    assert committed
    for path in committed:
        stored = load(path)
        again = scores(stored.queries.ranks, convention("dcase2022"))
        assert again == pytest.approx(stored.result.metrics["text_to_audio"], abs=1e-12), path
