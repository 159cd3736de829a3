"""The LAION-CLAP caption encoder: 512-d unit vectors, captions past 77 tokens truncated and
counted, the real tokenizer's vocabulary checked, the byte stand-in only with random weights."""

import warnings

import numpy as np
import pytest
import torch

from bench_laion_clap.text import LaionClapText
from bench_laion_clap.tokenizer import ByteTokens, RobertaTokens
from laion_clap_stand_ins import write_vocabulary

from benchmark.errors import BenchError

LONG = "a dog barks and a car passes by on the wet road while birds sing " * 8  # ~130 tokens, 520 bytes


@pytest.fixture(autouse=True)
def weights_dir(tmp_path, monkeypatch):
    """An empty weights directory, offline: nothing is downloaded."""
    monkeypatch.setenv("BENCH_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    return tmp_path / "weights"


@pytest.fixture(scope="module")
def random_encoder():
    return LaionClapText(weights="random", tokenizer="bytes")


def test_captions_become_unit_vectors_of_the_experts_dimension(random_encoder):
    with torch.no_grad():
        out = random_encoder(["rain on a tin roof", "a door creaks", "rain on a tin roof"])
    assert out.shape == (3, 512) == (3, random_encoder.dim)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(3))
    assert torch.equal(out[0], out[2]) and not torch.allclose(out[0], out[1])


def test_a_caption_longer_than_77_tokens_is_truncated_counted_and_warned_about(random_encoder):
    kept = LONG.encode()[:75].decode()  # the byte stand-in keeps 75 bytes between <s> and </s>
    before = random_encoder.truncated
    with torch.no_grad(), pytest.warns(UserWarning, match="1 of 2 captions were longer than LAION-CLAP's 77 tokens"):
        long, short = random_encoder([LONG, kept])
    assert torch.equal(long, short)
    assert random_encoder.truncated == before + 1
    settings = random_encoder.settings()
    assert settings["max_tokens"] == 77 and settings["long_captions"] == "truncated to 77 tokens"


def test_short_captions_raise_no_warning(random_encoder):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        random_encoder(["a short caption"])


def test_the_roberta_tokenizer_pads_and_truncates_to_77_tokens_as_the_package(tmp_path):
    tokens = RobertaTokens(*write_vocabulary(tmp_path))
    batch = tokens(["ab", LONG])
    assert batch.input_ids.shape == batch.attention_mask.shape == (2, 77)
    ab = 4 + 256 + 97 * 256 + 98  # the stand-in vocabulary's merge of "a" and "b"
    assert batch.input_ids[0, :4].tolist() == [0, ab, 2, 1] and batch.attention_mask[0].tolist() == [1, 1, 1] + [0] * 74
    assert batch.attention_mask[1].sum() == 77 and batch.input_ids[1, -1] == 2  # truncated, </s> kept
    assert batch.truncated == 1


@pytest.mark.parametrize("size", [1000, 50264])
def test_a_tokenizer_of_the_wrong_size_is_a_one_line_error_naming_its_files(tmp_path, size):
    vocab, merges = write_vocabulary(tmp_path, size=size)
    with pytest.raises(BenchError) as error:
        RobertaTokens(vocab, merges)
    message = str(error.value)
    assert f"has {size} tokens, not 50265" in message and str(vocab) in message and str(merges) in message
    assert "\n" not in message


def test_an_unreadable_vocabulary_is_a_one_line_error_naming_it(tmp_path):
    vocab, merges = write_vocabulary(tmp_path)
    vocab.write_text("{ not json")
    with pytest.raises(BenchError, match="cannot build the roberta-base tokenizer from .*roberta-base-vocab.json"):
        RobertaTokens(vocab, merges)


def test_random_weights_use_the_byte_stand_in_unless_robertas_files_are_there(weights_dir):
    assert LaionClapText(weights="random").settings()["tokenizer"] == ByteTokens.name
    write_vocabulary(weights_dir)
    encoder = LaionClapText(weights="random")
    assert encoder.settings()["tokenizer"] == "roberta-base (roberta-base-vocab.json, roberta-base-merges.txt)"
    assert isinstance(encoder.tokens, RobertaTokens)


def test_the_byte_stand_in_is_refused_with_pretrained_weights():
    with pytest.raises(BenchError, match="tokenizer: bytes is a stand-in for random weights only"):
        LaionClapText(weights="pretrained", tokenizer="bytes")


def test_an_unknown_tokenizer_or_missing_weights_file_is_named(tmp_path):
    with pytest.raises(BenchError, match="tokenizer.*'gpt2'.*auto"):
        LaionClapText(weights="random", tokenizer="gpt2")
    with pytest.raises(BenchError, match="weights file .*nope.pt does not exist"):
        LaionClapText(weights=str(tmp_path / "nope.pt"))


def test_offline_the_missing_tokenizer_file_is_named_in_one_line(weights_dir):
    encoder = LaionClapText(weights="random", tokenizer="roberta")
    with pytest.raises(BenchError) as error:
        encoder(["a caption"])
    message = str(error.value)
    assert "needs the weights file roberta-base-vocab.json" in message and str(weights_dir) in message
    assert "huggingface.co/FacebookAI/roberta-base/resolve/main/vocab.json" in message and "\n" not in message


def test_a_frozen_encoder_never_trains_and_a_trainable_one_does():
    frozen = LaionClapText(weights="random", tokenizer="bytes")
    assert frozen.clap is None  # nothing built until a caption needs it
    frozen(["x"])
    frozen.train()
    assert not frozen.clap.training and not any(p.requires_grad for p in frozen.parameters())
    trainable = LaionClapText(trainable=True, weights="random", tokenizer="bytes")
    assert trainable.clap is not None and all(p.requires_grad for p in trainable.parameters())
    out = trainable(["a dog", "a cat"])
    out.sum().backward()
    assert trainable.clap.text_projection[2].weight.grad is not None


def test_random_weights_are_seeded(random_encoder):
    other = LaionClapText(weights="random", tokenizer="bytes")
    with torch.no_grad():
        np.testing.assert_array_equal(other(["same seed"]).numpy(), random_encoder(["same seed"]).numpy())
    assert random_encoder.settings()["weights"] == {"random": 0}
