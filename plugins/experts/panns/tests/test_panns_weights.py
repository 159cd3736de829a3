"""PANNs loads a real checkpoint file."""

import numpy as np
import torch

from bench_panns.expert import PANNs

from benchmark.testing import noise, shared_expert


def test_panns_reads_the_model_entry_of_its_checkpoint(tmp_path):
    expert = shared_expert(PANNs)
    path = tmp_path / "cnn14.pth"
    torch.save({"model": expert.network.state_dict(), "iteration": 600000}, path)
    clip = [noise(1.5, 16000)]
    np.testing.assert_allclose(PANNs(weights=str(path), precision="float32").embed(clip)[0], expert.embed(clip)[0], atol=1e-6)
