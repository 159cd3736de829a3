"""Captions to the ``(n, 77)`` token ids and attention mask LAION-CLAP's text tower reads.

:class:`RobertaTokens` is roberta-base's tokenizer called as the package calls it (padded
to 77 tokens, truncated to 77, ``<s>`` and ``</s>`` included). It is built from the two
files, and its vocabulary size is checked: transformers 5 builds a tiny, nearly empty
tokenizer without a word when it is handed arguments it does not read, and such a
tokenizer would embed every caption as ``<unk>``.

:class:`ByteTokens` is a stand-in for runs with random weights when the real vocabulary is
not on the machine: the UTF-8 bytes of a caption, each mapped to a token id of its own
(``4 + byte``) between ``<s>`` and ``</s>``. It tells captions apart, which is all a
random network can use; it is refused with pretrained weights, and the encoder's settings
name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from benchmark.api import BenchError
from bench_laion_clap.clap import CONTEXT_LENGTH, ROBERTA_BASE

BOS, PAD, EOS = 0, 1, 2
#: Entries in roberta-base's vocabulary (50,000 merges, 256 bytes, 9 others).
VOCABULARY = ROBERTA_BASE["vocab_size"]


@dataclass
class Tokens:
    """Token ids and attention mask of a batch, ``(n, 77)`` each, and how many captions lost
    tokens to the 77-token limit."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    truncated: int


class RobertaTokens:
    """roberta-base's byte-level BPE, from its ``vocab.json`` and ``merges.txt``."""

    name = "roberta-base"

    def __init__(self, vocab: Path, merges: Path) -> None:
        from transformers import RobertaTokenizer

        self.files = (vocab, merges)
        try:
            self.tokenizer = RobertaTokenizer(vocab=str(vocab), merges=str(merges))
        except Exception as exc:  # noqa: BLE001 - json, BPE and I/O errors all mean a bad file here
            raise BenchError(f"cannot build the roberta-base tokenizer from {vocab} and {merges} ({exc}); "
                             "delete them to download them again") from None
        if len(self.tokenizer) != VOCABULARY:
            raise BenchError(
                f"the roberta-base tokenizer built from {vocab} and {merges} has {len(self.tokenizer)} tokens, "
                f"not {VOCABULARY}: they are not roberta-base's vocab.json and merges.txt; delete them to "
                "download them again"
            )

    def __call__(self, captions: Sequence[str]) -> Tokens:
        encoded = self.tokenizer(
            list(captions), padding="max_length", truncation=True, max_length=CONTEXT_LENGTH, return_tensors="pt"
        )
        lengths = [len(ids) for ids in self.tokenizer(list(captions))["input_ids"]]
        truncated = sum(n > CONTEXT_LENGTH for n in lengths)
        return Tokens(encoded["input_ids"], encoded["attention_mask"], truncated)


class ByteTokens:
    """The stand-in for random weights (see the module docstring)."""

    name = "utf8-bytes stand-in (random weights only)"

    def __call__(self, captions: Sequence[str]) -> Tokens:
        ids = torch.full((len(captions), CONTEXT_LENGTH), PAD, dtype=torch.long)
        mask = torch.zeros((len(captions), CONTEXT_LENGTH), dtype=torch.long)
        room, truncated = CONTEXT_LENGTH - 2, 0
        for row, caption in enumerate(captions):
            data = caption.encode("utf-8")
            truncated += len(data) > room
            tokens = [BOS, *(4 + b for b in data[:room]), EOS]
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        return Tokens(ids, mask, truncated)
