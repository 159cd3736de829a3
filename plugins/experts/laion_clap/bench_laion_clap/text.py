"""The LAION-CLAP caption encoder: RoBERTa-base's pooled output projected into the 512-d
joint space, L2-normalised, as the package's ``get_text_embedding``.

Captions are tokenised as the package does (roberta-base's BPE, padded and truncated to 77
tokens). A caption longer than that is truncated, not refused: the encoder counts such
captions (:attr:`LaionClapText.truncated`), warns once per call that truncated some, and
its settings (part of every result) state the limit.

``weights`` is ``pretrained`` (the checkpoint and the tokenizer's two files, fetched and
checksummed into the weights directory), ``random`` (seeded, for offline smoke runs) or a
path to a checkpoint file. ``tokenizer`` is ``auto`` (roberta-base's; with random weights,
the UTF-8 byte stand-in of :mod:`bench_laion_clap.tokenizer` unless roberta-base's files are
already in the weights directory), ``roberta`` or ``bytes`` (random weights only).
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import torch
from torch import nn

from benchmark.api import BenchError, build_network, check_weights, fetch_weights, unknown_name, weights_identity
from bench_laion_clap.clap import CONTEXT_LENGTH, JOINT_DIM, Clap, load_clap
from bench_laion_clap.files import CHECKPOINT, TOKENIZER, present
from bench_laion_clap.tokenizer import ByteTokens, RobertaTokens

TOKENIZERS = ("auto", "roberta", "bytes")
#: The expert's checkpoint: the text tower's entries are taken from it.
FILES = {"model": CHECKPOINT}


class LaionClapText(nn.Module):
    """Captions -> ``(n, 512)`` unit vectors in LAION-CLAP's joint space; frozen or fine-tuned."""

    #: The encoder has downloadable weights and takes ``weights: pretrained | random | PATH``.
    pretrained = True
    dim = JOINT_DIM

    def __init__(self, trainable: bool = False, weights: str = "pretrained", tokenizer: str = "auto") -> None:
        super().__init__()
        if tokenizer not in TOKENIZERS:
            raise unknown_name("tokenizer", str(tokenizer), TOKENIZERS)
        self.weights = check_weights(str(weights))
        if tokenizer == "bytes" and self.weights != "random":
            raise BenchError("tokenizer: bytes is a stand-in for random weights only; pretrained weights need "
                             "roberta-base's tokenizer (tokenizer: auto)")
        if tokenizer == "auto":
            real = self.weights != "random" or all(present(f) for f in TOKENIZER.values())
            tokenizer = "roberta" if real else "bytes"
        self.tokenizer_kind = tokenizer
        self.trainable = bool(trainable)
        self.truncated = 0
        self._tokens: RobertaTokens | ByteTokens | None = None
        self.clap: Clap | None = None
        self.register_buffer("anchor", torch.empty(0), persistent=False)  # remembers the device until the network exists
        if self.trainable:  # must exist before the model around it is moved to its device
            self.load()

    def load(self) -> Clap:
        """The text tower, built and loaded on first use: a frozen encoder whose captions are
        all cached never reads the 1.9 GB checkpoint."""
        if self.clap is None:
            clap = build_network(self.weights, FILES, lambda: Clap(audio=False, text=True),
                                 lambda network, paths: load_clap(network, paths["model"]))
            clap.requires_grad_(self.trainable).to(self.anchor.device)
            self.clap = clap if self.trainable else clap.eval()
        return self.clap

    def settings(self) -> dict[str, Any]:
        tokenizer = (ByteTokens.name if self.tokenizer_kind == "bytes"
                     else f"{RobertaTokens.name} ({', '.join(f.name for f in TOKENIZER.values())})")
        return {
            "model": "LAION-CLAP RoBERTa-base text tower", "weights": weights_identity(self.weights, FILES),
            "dim": self.dim, "tokenizer": tokenizer, "max_tokens": CONTEXT_LENGTH, "long_captions": f"truncated to {CONTEXT_LENGTH} tokens",
        }

    def train(self, mode: bool = True) -> "LaionClapText":
        """A frozen encoder stays in eval mode (no dropout) when the model around it trains."""
        super().train(mode)
        if not self.trainable and self.clap is not None:
            self.clap.eval()
        return self

    @property
    def tokens(self) -> RobertaTokens | ByteTokens:
        """The tokenizer, built (and its files fetched) on first use."""
        if self._tokens is None:
            if self.tokenizer_kind == "bytes":
                self._tokens = ByteTokens()
            else:
                self._tokens = RobertaTokens(fetch_weights(TOKENIZER["vocab"]), fetch_weights(TOKENIZER["merges"]))
        return self._tokens

    def forward(self, captions: Sequence[str]) -> torch.Tensor:
        batch = self.tokens(list(captions))
        if batch.truncated:
            self.truncated += batch.truncated
            warnings.warn(f"{batch.truncated} of {len(captions)} captions were longer than LAION-CLAP's "
                          f"{CONTEXT_LENGTH} tokens and were truncated")
        clap = self.load()
        device = self.anchor.device
        return clap.embed_text(batch.input_ids.to(device), batch.attention_mask.to(device))
