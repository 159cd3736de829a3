"""MS-CLAP 2022's text tower as a caption encoder: BERT's ``[CLS]`` state, projected into the
1024-d space of the ``ms_clap`` expert's frames.

Captions are tokenised as msclap does (bert-base-uncased's WordPiece, at most 100 tokens
with ``[CLS]`` and ``[SEP]``): a longer caption keeps its first 98 WordPieces, which is
what msclap's tokenizer call does too. It is not an error: each call that cuts captions
says so on stderr in one line, :attr:`MSClapText.truncated` counts them, and the rule is
part of :meth:`MSClapText.settings`, hence of every result. msclap pads every caption to
100 tokens; here a batch is padded to its longest caption, which the attention mask makes
the same computation.

The weights come from the same checkpoint as the expert's (``weights``: ``pretrained``,
``random`` or a file path). Frozen (the default), the tower is built on first use only, so
a run whose caption embeddings are all cached never loads it; ``trainable: true`` builds it
at once, as a submodule that trains and moves with the model.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import nn

from benchmark.api import build_network, check_weights, weights_identity
from bench_ms_clap.checkpoint import CHECKPOINT, load_towers
from bench_ms_clap.network import JOINT_DIM, MAX_TOKENS, MSClap
from bench_ms_clap.vocabulary import VOCAB_SHA256, bert_uncased_tokenizer

if TYPE_CHECKING:  # pragma: no cover
    from transformers import BatchEncoding, PreTrainedTokenizerBase

#: The expert's checkpoint: the text tower's entries are taken from it.
FILES = {"model": CHECKPOINT}
TRUNCATION = f"captions over {MAX_TOKENS} tokens keep their first {MAX_TOKENS - 2} WordPieces between [CLS] and [SEP], as msclap"


class MSClapText(nn.Module):
    """Captions to 1024-d MS-CLAP 2022 text embeddings (not normalised, as msclap returns them)."""

    dim = JOINT_DIM
    #: Like a pretrained expert, it takes ``weights: pretrained | random | <path>``.
    pretrained = True

    def __init__(self, trainable: bool = False, weights: str = "pretrained") -> None:
        super().__init__()
        self.trainable = bool(trainable)
        self.weights = check_weights(str(weights))
        #: Captions cut to :data:`MAX_TOKENS` tokens so far.
        self.truncated = 0
        self.tower: MSClap | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self.register_buffer("anchor", torch.empty(0), persistent=False)  # tells where the module was moved
        if self.trainable:
            self.load()

    def load(self) -> MSClap:
        """The text tower, built and loaded once, on the device the module was moved to."""
        if self.tower is None:
            tower = build_network(self.weights, FILES, lambda: MSClap(("text",)),
                                  lambda network, paths: load_towers(network, paths["model"]))
            tower.to(self.anchor.device)
            self.tower = tower.train() if self.trainable else tower.eval().requires_grad_(False)
        return self.tower

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        if self._tokenizer is None:
            self._tokenizer = bert_uncased_tokenizer()
        return self._tokenizer

    def settings(self) -> dict[str, Any]:
        return {
            "model": "MS-CLAP 2022 text tower (bert-base-uncased [CLS] + projection)",
            "weights": weights_identity(self.weights, FILES),
            "tokenizer": f"bert-base-uncased WordPiece, vocab.txt sha256 {VOCAB_SHA256}",
            "max_tokens": MAX_TOKENS,
            "truncation": TRUNCATION,
        }

    def tokenize(self, captions: Sequence[str]) -> BatchEncoding:
        """Token ids, types and attention mask of ``captions``, padded to the longest and cut
        to :data:`MAX_TOKENS`; the captions cut are counted and reported."""
        lengths = [len(ids) for ids in self.tokenizer(list(captions))["input_ids"]]
        cut = [caption for caption, length in zip(captions, lengths) if length > MAX_TOKENS]
        if cut:
            self.truncated += len(cut)
            print(f"ms_clap_text: {len(cut)} caption(s) longer than {MAX_TOKENS} tokens truncated to their first "
                  f"{MAX_TOKENS}, e.g. {cut[0][:60]!r}", file=sys.stderr, flush=True)
        return self.tokenizer(list(captions), padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")

    def forward(self, captions: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenize(captions)
        tower, device = self.load(), self.anchor.device
        return tower.caption_encoder(
            input_ids=tokens["input_ids"].to(device), token_type_ids=tokens["token_type_ids"].to(device),
            attention_mask=tokens["attention_mask"].to(device),
        )
