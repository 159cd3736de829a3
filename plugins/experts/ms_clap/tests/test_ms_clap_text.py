"""The ms_clap_text caption encoder: bert-base-uncased's tokens without a download, 100
tokens at most (longer captions cut and counted, not refused), the same vectors every time,
in the expert's 1024-d space."""

import pytest
import torch

from bench_ms_clap import vocabulary
from bench_ms_clap.text_encoder import MSClapText
from bench_ms_clap.vocabulary import VOCAB_SHA256, bert_uncased_tokenizer

from benchmark.api import BenchError

LONG = " ".join(["water drips slowly into a metal bucket in an echoing cave"] * 12)  # 146 tokens


@pytest.fixture(scope="module")
def encoder() -> MSClapText:
    return MSClapText(weights="random")


def test_the_tokenizer_is_bert_base_uncased_from_the_installed_vocabulary():
    tokenizer = bert_uncased_tokenizer()
    assert len(tokenizer) == 30522
    # bert-base-uncased's ids: lower case, accents stripped, "##" continuations.
    assert tokenizer("A dog BARKS at the Café.")["input_ids"] == [101, 1037, 3899, 11286, 2015, 2012, 1996, 7668, 1012, 102]


def test_a_vocabulary_file_that_is_not_bert_base_uncased_is_refused(tmp_path, monkeypatch):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n")

    class Package:
        @staticmethod
        def get_model_path():
            return tmp_path

    monkeypatch.setitem(__import__("sys").modules, vocabulary.PACKAGE, Package)
    with pytest.raises(BenchError, match=f"is not bert-base-uncased's vocab.txt \\(sha256 {VOCAB_SHA256}\\)"):
        bert_uncased_tokenizer()


def test_a_frozen_encoder_loads_nothing_until_it_embeds(encoder):
    fresh = MSClapText(weights="random")
    settings = fresh.settings()
    assert fresh.tower is None and fresh._tokenizer is None
    assert settings["weights"] == {"random": 0} and settings["max_tokens"] == 100
    assert VOCAB_SHA256 in settings["tokenizer"] and "first 98 WordPieces" in settings["truncation"]
    assert encoder.dim == 1024 and MSClapText(weights="pretrained").settings()["weights"]["model"][0] == "CLAP_weights_2022.pth"


def test_the_same_captions_give_the_same_vectors(encoder):
    captions = ["a dog barks twice", "rain on a tin roof while thunder rumbles far away"]
    with torch.inference_mode():
        first, second = encoder(captions), encoder(captions)
    assert first.shape == (2, 1024) and torch.isfinite(first).all()
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_a_caption_over_100_tokens_is_cut_to_its_first_100_counted_and_reported(encoder, capsys):
    before = encoder.truncated
    tokens = encoder.tokenize(["a cat meows", LONG])
    assert tokens["input_ids"].shape == (2, 100) and tokens["input_ids"][1, -1].item() == 102  # ends in [SEP]
    full = encoder.tokenizer(LONG)["input_ids"]
    assert len(full) == 146 and tokens["input_ids"][1, :99].tolist() == full[:99]
    assert encoder.truncated == before + 1
    assert "1 caption(s) longer than 100 tokens truncated" in capsys.readouterr().err
    with torch.inference_mode():
        cut = encoder([LONG])
        expected = encoder.tower.caption_encoder(
            torch.tensor([full[:99] + [102]]), torch.zeros(1, 100, dtype=torch.long), torch.ones(1, 100, dtype=torch.long))
    torch.testing.assert_close(cut, expected)


def test_a_trainable_encoder_holds_its_tower_as_trainable_parameters():
    trainable = MSClapText(trainable=True, weights="random")
    parameters = list(trainable.parameters())
    assert sum(p.numel() for p in parameters) == 111_319_296 and all(p.requires_grad for p in parameters)
    trainable(["a door slams"]).sum().backward()
    assert trainable.tower.caption_encoder.projection.linear1.weight.grad is not None


def test_a_weights_file_that_does_not_exist_is_refused_when_the_encoder_is_made(tmp_path):
    with pytest.raises(BenchError, match=r"^weights file .*nope\.pth does not exist \(weights: pretrained, random or a file path\)$"):
        MSClapText(weights=str(tmp_path / "nope.pth"))
