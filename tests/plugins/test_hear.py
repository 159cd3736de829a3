"""The HEAR adapter: any module with the HEAR 2021 API works as an expert, by name."""

import json
import textwrap

import numpy as np
import pytest

from benchmark.errors import BenchError
from bench_plugins.experts.hear import HEARExpert

FAKE_HEAR = '''
"""A HEAR-API module: one frame per 0.25 s holding the frame's mean and energy."""
import torch

class Model(torch.nn.Module):
    sample_rate = 8000
    timestamp_embedding_size = 2
    scene_embedding_size = 2

def load_model(model_file_path=""):
    return Model()

def get_timestamp_embeddings(audio, model):
    assert audio.ndim == 2 and audio.dtype == torch.float32
    frames = audio.unfold(1, 2000, 2000)
    embeddings = torch.stack([frames.mean(-1), frames.square().mean(-1)], dim=-1)
    timestamps = (torch.arange(frames.shape[1]) * 250.0 + 125.0).expand(audio.shape[0], -1)
    return embeddings, timestamps
'''


@pytest.fixture
def fake_hear(tmp_path, monkeypatch):
    (tmp_path / "fake_hear.py").write_text(textwrap.dedent(FAKE_HEAR))
    (tmp_path / "not_hear.py").write_text("def load_model():\n    return None\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "fake_hear"


def test_frames_come_from_get_timestamp_embeddings(fake_hear):
    expert = HEARExpert(module=fake_hear)
    assert expert.sample_rate == 8000 and expert.dim == 2
    clips = [np.ones(4000, np.float32), np.full(8000, 2.0, np.float32), np.ones(4000, np.float32) * 3]
    frames = expert.embed(clips)
    assert [f.shape for f in frames] == [(2, 2), (4, 2), (2, 2)]
    np.testing.assert_allclose(frames[1][0], [2.0, 4.0])
    np.testing.assert_allclose(frames[2][1], [3.0, 9.0])  # equal-length clips shared a call, order kept
    assert expert.settings()["module"] == "fake_hear"


def test_a_module_without_the_api_or_not_installed_is_named(fake_hear):
    with pytest.raises(BenchError, match="'not_hear' does not implement the HEAR API \\(no get_timestamp_embeddings\\)"):
        HEARExpert(module="not_hear").sample_rate
    with pytest.raises(BenchError, match="cannot import HEAR module 'hear_nowhere'"):
        HEARExpert(module="hear_nowhere").dim


def test_a_hear_module_runs_end_to_end_from_the_cli(fake_hear, tmp_path):
    from benchmark.cli import main
    from tests.conftest import TINY, dataset_args

    args = ["run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(TINY), "--output", str(tmp_path),
            "--set", "experts=[{name: hear, module: fake_hear}]", "--set", "schedule.epochs=1", "--set", "batch_size=8"]
    assert main(args) == 0
    (path,) = tmp_path.glob("*/ranking-set-*/seed-0.json")
    assert json.loads(path.read_text())["experts"]["hear"]["module"] == "fake_hear"
