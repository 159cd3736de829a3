"""Features: the run's device reaches the experts and the frozen caption encoder, and
features computed off the CPU get cache keys of their own (CPU keys unchanged)."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benchmark.api import Expert
from benchmark.cache import EmbeddingCache
from benchmark.data import Split
from benchmark.features import Features, caption_embeddings, caption_key, device_key, expert_key

SPLIT = Split("development", (Path("a.wav"), Path("b.wav")), (("a dog barks",), ("rain",)))


class Probe(Expert):
    sample_rate, dim, batch_size = 16000, 3, 4

    def settings(self):
        return {"probe": 1, "precision": "float32"}

    def embed(self, waveforms):
        return [np.zeros((1, 3), dtype=np.float32) for _ in waveforms]


class Captions(torch.nn.Module):
    """A caption encoder with weights, recording the device its inputs were on."""

    dim = 2

    def __init__(self, trainable=False):
        super().__init__()
        self.layer = torch.nn.Linear(1, 2)
        self.seen = []

    def settings(self):
        return {"model": "fake"}

    def forward(self, captions):
        self.seen.append(self.layer.weight.device.type)
        return self.layer(torch.tensor([[float(len(c))] for c in captions], device=self.layer.weight.device))


def manager():
    """A plugin manager that builds :class:`Probe` experts and :class:`Captions` encoders."""
    return SimpleNamespace(
        create=lambda kind, spec, where, **kw: Probe() if kind == "experts" else Captions(**kw)
    )


CONFIG = {"experts": [{"name": "probe"}], "text_encoder": {"name": "fake"}}


@pytest.mark.parametrize("trainable", [False, True])
def test_the_frozen_caption_encoder_goes_to_the_runs_device_as_the_experts_do(tmp_path, trainable):
    config = {**CONFIG, "text_encoder": {"name": "fake", "trainable": trainable}}
    features = Features(config, manager(), torch.device("meta"), tmp_path)  # no GPU here: meta stands in
    assert [expert.device for _, expert in features.experts] == ["meta"]
    wanted = "cpu" if trainable else "meta"  # a trainable one is moved with the model
    assert {p.device.type for p in features.text_encoder.parameters()} == {wanted}


def test_captions_are_embedded_where_the_encoder_is_and_cached_as_cpu_arrays(tmp_path):
    features = Features(CONFIG, manager(), torch.device("cpu"), tmp_path)
    store = caption_embeddings("fake", features.frozen_text, "synthetic-1", SPLIT, tmp_path)
    assert features.text_encoder.seen == ["cpu"] and store[0].shape == (1, 2) and isinstance(store[0], np.ndarray)


def hashed(key):
    return EmbeddingCache(Path("cache"), "experts", "probe", key).directory.name


def test_cpu_cache_keys_are_those_of_before_devices_were_keyed():
    # Pinned: the hashes these keys had before the device was part of them.
    assert hashed(expert_key("probe", Probe(), "synthetic-1", SPLIT)) == "ba0760509e3b971b"
    assert hashed(caption_key("fake", Captions(), "synthetic-1", SPLIT)) == "998bbe5588384071"
    assert device_key("cpu") == {}


def test_features_computed_off_the_cpu_have_keys_of_their_own():
    cpu, gpu = Probe(), Probe()
    gpu.device = "cuda"  # keys only: nothing is computed
    cuda_key = expert_key("probe", gpu, "synthetic-1", SPLIT)
    assert hashed(cuda_key) != hashed(expert_key("probe", cpu, "synthetic-1", SPLIT))
    assert cuda_key["device"] == "cuda" and set(cuda_key["tf32"]) == {"matmul", "cudnn"}
    tf32 = torch.backends.cuda.matmul.allow_tf32  # a property of torch's, not monkeypatch's to restore
    torch.backends.cuda.matmul.allow_tf32 = not tf32
    try:
        assert hashed(expert_key("probe", gpu, "synthetic-1", SPLIT)) != hashed(cuda_key)  # TF32 or not: other entries
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    moved = Captions().to(torch.device("meta"))
    assert caption_key("fake", moved, "synthetic-1", SPLIT)["device"] == "meta"
    on_cpu = caption_key("fake", Captions(), "synthetic-1", SPLIT)
    assert hashed(caption_key("fake", moved, "synthetic-1", SPLIT)) != hashed(on_cpu)


def test_extract_is_done_once_every_shard_of_every_store_is(tmp_path):
    import soundfile

    paths = tuple(tmp_path / f"clip{i}.wav" for i in range(40))  # two cache chunks of expert frames
    for path in paths:
        soundfile.write(path, np.zeros(1600, np.float32), 16000)
    split = Split("development", paths, tuple((f"caption {i}",) for i in range(40)))
    features = Features(CONFIG, manager(), torch.device("cpu"), tmp_path / "cache")
    assert features.extract("d", split, (0, 2)) is False  # the second chunk is shard 1's
    assert features.extract("d", split, (1, 2)) is True
    inputs = features.inputs("d", split)
    assert len(inputs) == 40 and inputs.text is not None and inputs.audio[0][39].shape == (1, 3)
