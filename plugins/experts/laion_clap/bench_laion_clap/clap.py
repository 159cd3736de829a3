"""The LAION-CLAP model (non-fusion, HTSAT-tiny + RoBERTa-base) with the package's
parameter names, and how a published checkpoint is put into it.

Module names follow ``laion_clap.clap_module.model.CLAP``, so a checkpoint's state dict
(after its ``module.`` prefix and RoBERTa's ``position_ids`` buffer are dropped, as the
package does) loads strictly:

- ``audio_branch`` (:class:`~bench_laion_clap.htsat.HTSATTiny`, 768-d) and
  ``audio_projection``: Linear(768, 512), ReLU, Linear(512, 512);
- ``text_branch`` (``transformers.RobertaModel`` built from roberta-base's exact
  configuration; its ``pooler_output``, the CLS token through dense + tanh) and
  ``text_projection``: Linear(768, 512), ReLU, Linear(512, 512);
- ``audio_transform``, ``text_transform`` and ``logit_scale_a``/``logit_scale_t``: what the
  training loss used besides the projections. Embeddings never pass through them.

Both embeddings are L2-normalised: the 512-d joint space where a caption's and a clip's
cosine similarity is their dot product.

An expert needs only the audio side and a caption encoder only the text side: a
:class:`Clap` is built with the parts it needs (``audio``, ``text``), the full model with
both (and the training-only parts). :func:`load_clap` reads the whole checkpoint, checks
that every key in it belongs to the architecture, and loads the parts present strictly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.api import BenchError, load_checkpoint, load_state
from bench_laion_clap.htsat import FEATURES, HTSATTiny

#: The joint embedding space's dimension.
JOINT_DIM = 512
#: RoBERTa-base's hidden size.
TEXT_WIDTH = 768
#: Tokens per caption (the package pads and truncates to this many, special tokens included).
CONTEXT_LENGTH = 77
#: RoBERTa-base's configuration, exactly: transformers' defaults for RobertaConfig are
#: BERT's (vocabulary 30522, 512 positions, 2 token types) and do not fit the checkpoint.
ROBERTA_BASE = {
    "vocab_size": 50265, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 514, "type_vocab_size": 1,
    "initializer_range": 0.02, "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2,
}
#: Key prefixes of each part of the model, as the checkpoint names them.
PARTS: dict[str, tuple[str, ...]] = {
    "audio": ("audio_branch.", "audio_projection."),
    "text": ("text_branch.", "text_projection."),
    "training": ("audio_transform.", "text_transform.", "logit_scale_a", "logit_scale_t"),
}
#: A buffer the checkpoint holds (transformers made it persistent when it was trained) and
#: today's RobertaModel does not keep in its state dict; the package deletes it too.
STALE_KEYS = ("text_branch.embeddings.position_ids",)
#: Key fragments of the fusion variants (630k-fusion-best.pt, 630k-audioset-fusion-best.pt).
FUSION_KEYS = ("fusion_model.", "mel_conv2d.", "mel_conv1d.")


def projection(width: int) -> nn.Sequential:
    """Linear(width, 512), ReLU, Linear(512, 512): the package's projection into the joint space."""
    return nn.Sequential(nn.Linear(width, JOINT_DIM), nn.ReLU(), nn.Linear(JOINT_DIM, JOINT_DIM))


class TrainingMlp(nn.Module):
    """Linear, ReLU, Linear on the joint space: the loss's extra head, named as the package
    names it (``sequential.0``, ``sequential.3``: its dropout layers sat in between)."""

    def __init__(self) -> None:
        super().__init__()
        self.sequential = nn.Sequential(
            nn.Linear(JOINT_DIM, JOINT_DIM), nn.ReLU(), nn.Dropout(0.1), nn.Linear(JOINT_DIM, JOINT_DIM)
        )


def roberta_base() -> nn.Module:
    """A randomly initialised RoBERTa-base (with its pooler), shaped as the checkpoint's."""
    from transformers import RobertaConfig, RobertaModel

    return RobertaModel(RobertaConfig(**ROBERTA_BASE))


class Clap(nn.Module):
    """LAION-CLAP, or the parts of it named by ``audio`` and ``text`` (the training-only
    parts come with the full model only)."""

    def __init__(self, audio: bool = True, text: bool = True) -> None:
        super().__init__()
        if not (audio or text):
            raise ValueError("a Clap needs its audio side, its text side or both")
        self.parts = tuple(name for name, wanted in (("audio", audio), ("text", text), ("training", audio and text)) if wanted)
        if audio:
            self.audio_branch = HTSATTiny()
            self.audio_projection = projection(FEATURES)
        if text:
            self.text_branch = roberta_base()
            self.text_projection = projection(TEXT_WIDTH)
        if audio and text:
            self.audio_transform = TrainingMlp()
            self.text_transform = TrainingMlp()
            self.logit_scale_a = nn.Parameter(torch.tensor(1 / 0.07).log())
            self.logit_scale_t = nn.Parameter(torch.tensor(1 / 0.07).log())

    def embed_audio(self, waveforms: torch.Tensor) -> torch.Tensor:
        """``(B, 480000)`` windows at 48 kHz -> ``(B, 512)`` unit vectors."""
        return F.normalize(self.audio_projection(self.audio_branch(waveforms)), dim=-1)

    def embed_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """``(B, 77)`` token ids and mask -> ``(B, 512)`` unit vectors."""
        pooled = self.text_branch(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return F.normalize(self.text_projection(pooled), dim=-1)


class AudioSide(nn.Module):
    """The audio half of a :class:`Clap` as a module of its own (``forward`` =
    :meth:`Clap.embed_audio`), for tracing."""

    def __init__(self, clap: Clap) -> None:
        super().__init__()
        self.clap = clap

    def forward(self, waveforms: torch.Tensor) -> torch.Tensor:
        return self.clap.embed_audio(waveforms)


def checkpoint_state(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state dict inside a LAION-CLAP checkpoint (its ``state_dict`` entry, or the file
    itself), without the ``module.`` prefix DataParallel left and the stale buffers."""
    state = raw.get("state_dict", raw) if isinstance(raw, Mapping) else None
    if not isinstance(state, Mapping) or not all(isinstance(k, str) for k in state):
        raise BenchError(f"weights file {path} holds no state dict; is it a LAION-CLAP checkpoint?")
    cleaned = {k.removeprefix("module."): v for k, v in state.items()}
    return {k: v for k, v in cleaned.items() if k not in STALE_KEYS}


def load_clap(model: Clap, path: Path) -> None:
    """Put the checkpoint at ``path`` into ``model``: every key of the file must belong to
    the architecture (a fusion or other variant is refused by name), and the parts
    ``model`` has must match it exactly."""
    state = checkpoint_state(load_checkpoint(path), path)
    fusion = [k for k in state if any(f in k for f in FUSION_KEYS)]
    if fusion:
        raise BenchError(f"weights file {path} is a fusion checkpoint ({fusion[0]}); only the non-fusion "
                         "checkpoints (630k-best.pt, 630k-audioset-best.pt) fit this model")
    known = tuple(p for prefixes in PARTS.values() for p in prefixes)
    foreign = [k for k in state if not k.startswith(known)]
    if foreign:
        raise BenchError(f"weights file {path} does not fit LAION-CLAP (unexpected: {', '.join(foreign[:3])}); "
                         "is it the right file?")
    kept = tuple(p for part in model.parts for p in PARTS[part])
    load_state(model, {k: v for k, v in state.items() if k.startswith(kept)}, path, strip=())
