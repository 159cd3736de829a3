"""The trainable retrieval model: one temporal head per expert, a fusion, a caption side."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np
import torch
from torch import nn

from benchmark.cache import SequenceStore

if TYPE_CHECKING:
    from benchmark.plugins import PluginManager

#: Caption input: precomputed embeddings (frozen encoder) or raw strings (trainable encoder).
TextInput = Union[torch.Tensor, Sequence[str]]


class RetrievalModel(nn.Module):
    def __init__(self, heads: Sequence[nn.Module], fusion: nn.Module, text_encoder: nn.Module | None) -> None:
        super().__init__()
        self.heads = nn.ModuleList(heads)
        self.fusion = fusion
        self.text_encoder = text_encoder  # None when frozen: embeddings come precomputed

    def audio_vectors(self, audio: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
        return [head(frames, lengths) for head, (frames, lengths) in zip(self.heads, audio)]

    def text_embeddings(self, text: TextInput) -> torch.Tensor:
        if isinstance(text, torch.Tensor):
            return text
        if self.text_encoder is None:
            raise RuntimeError("captions given as strings but the text encoder is frozen (precomputed)")
        return self.text_encoder(list(text))

    def forward(
        self, audio: Sequence[tuple[torch.Tensor, torch.Tensor]], text: TextInput, gather: bool = False,
        rows: Sequence[int] | None = None,
    ) -> torch.Tensor:
        """Similarity ``[n_audio, n_text]`` between each clip and each caption. With ``gather``
        (distributed training), every rank's expert vectors and caption embeddings are
        concatenated first, so the similarity covers the global batch; ``rows`` then says how
        many captions each rank holds, when clips differ in their number of captions."""
        vectors, captions = self.audio_vectors(audio), self.text_embeddings(text)
        if gather:
            from benchmark.distributed import gather as all_ranks

            vectors, captions = [all_ranks(v) for v in vectors], gather_rows(captions, rows)
        return self.fusion(vectors, captions)


def gather_rows(rows_here: torch.Tensor, rows: Sequence[int] | None) -> torch.Tensor:
    """Every rank's ``rows_here`` concatenated in rank order, when rank ``r`` holds ``rows[r]``
    of them: an all-gather needs one shape, so each rank pads to the most and the padding is
    dropped after (None, or equal counts: a plain all-gather)."""
    from benchmark.distributed import gather

    if rows is None or len(set(rows)) == 1:
        return gather(rows_here)
    most = max(rows)
    padded = torch.cat([rows_here, rows_here.new_zeros((most - rows_here.shape[0], *rows_here.shape[1:]))])
    keep = torch.cat([torch.arange(count) + rank * most for rank, count in enumerate(rows)])
    return gather(padded)[keep.to(rows_here.device)]


@dataclass(frozen=True)
class CaptionLayout:
    """How a batch's captions lie along the model's caption axis (clip by clip, all of each
    clip's captions) and how they are laid out per clip for a loss: ``[clips, K]`` slots,
    ``K`` the most captions of any clip in the batch, with a mask of the slots that hold one."""

    counts: np.ndarray  # captions of each clip of the batch, in batch order

    @property
    def most(self) -> int:
        return int(self.counts.max())

    @property
    def uniform(self) -> bool:
        """Every clip has ``K`` captions: nothing is padded."""
        return bool((self.counts == self.counts[0]).all())

    def rank_rows(self, world_size: int) -> list[int]:
        """Captions held by each rank, whose slices of the batch are equal and in rank order."""
        return [int(c) for c in self.counts.reshape(world_size, -1).sum(axis=1)]

    def per_clip(self, similarity: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``[n_audio, n_captions]`` similarities as ``[n_audio, clips, K]`` and the ``[clips,
        K]`` mask (None when nothing is padded). A padded slot holds the mean over the clip's
        own captions (see :class:`benchmark.api.LossInput`)."""
        n, clips, most = similarity.shape[0], len(self.counts), self.most
        if self.uniform:
            return similarity.view(n, clips, most), None
        present = np.arange(most)[None, :] < self.counts[:, None]
        starts = (np.cumsum(self.counts) - self.counts)[:, None]
        # Slot k of clip j reads the clip's caption k, or its first caption where it has none.
        index = torch.from_numpy(np.where(present, starts + np.arange(most), starts)).to(similarity.device)
        mask = torch.from_numpy(present).to(similarity.device)
        slots = similarity[:, index]
        mean = (slots * mask).sum(dim=-1, keepdim=True) / mask.sum(dim=-1, keepdim=True)
        return torch.where(mask, slots, mean), mask


def build_model(
    config: dict[str, Any], manager: PluginManager, expert_dims: Sequence[int], dim: int, text_encoder: nn.Module | None
) -> RetrievalModel:
    """Assemble the model a resolved system configuration describes; ``dim`` is the caption
    embedding size the heads map to, ``text_encoder`` the caption encoder that trains with
    the model (None when it is frozen and its embeddings come from the cache)."""
    heads = [manager.create("heads", config["head"], "system 'head'", input_dim=d, output_dim=dim) for d in expert_dims]
    fusion = manager.create("fusions", config["fusion"], "system 'fusion'", n_experts=len(expert_dims), dim=dim)
    return RetrievalModel(heads, fusion, text_encoder)


@dataclass
class ClipInputs:
    """Everything a split contributes to training or scoring, indexed by clip."""

    audio: list[SequenceStore]  # one store per expert
    captions: Sequence[Sequence[str]]
    text: SequenceStore | None  # frozen caption embeddings, or None to encode ``captions``
    sampling_weights: np.ndarray | None = None  # per-clip draw probability; None = uniform

    def __len__(self) -> int:
        return len(self.captions)

    @cached_property
    def caption_counts(self) -> np.ndarray:
        """How many captions each clip has."""
        return np.array([len(c) for c in self.captions], dtype=np.int64)

    def layout(self, indices: Sequence[int]) -> CaptionLayout:
        """Where the captions of the clips ``indices`` lie in a batch of them."""
        return CaptionLayout(self.caption_counts[np.asarray(indices)])

    @classmethod
    def concatenate(cls, parts: Sequence["ClipInputs"], equal_frequency: bool = False) -> "ClipInputs":
        """One input set from several datasets' splits; with ``equal_frequency`` each part is
        drawn as often as the others whatever its size."""
        from benchmark.cache import ConcatStore

        if len(parts) == 1 and not equal_frequency:
            return parts[0]
        audio = [ConcatStore([p.audio[e] for p in parts]) for e in range(len(parts[0].audio))]
        text = None if parts[0].text is None else ConcatStore([p.text for p in parts])
        captions = [c for p in parts for c in p.captions]
        weights = None
        if equal_frequency:
            weights = np.concatenate([np.full(len(p), 1.0 / (len(parts) * len(p))) for p in parts])
        return cls(audio, captions, text, weights)

    def audio_batch(self, indices: Sequence[int], device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
        out = []
        for store in self.audio:
            frames, lengths = store.batch(indices)
            out.append((torch.from_numpy(frames).to(device), torch.from_numpy(lengths).to(device)))
        return out

    def text_batch(self, indices: Sequence[int], device: torch.device) -> TextInput:
        """Every caption of the clips at ``indices``, clip-major."""
        if self.text is None:
            return [c for i in indices for c in self.captions[i]]
        return torch.from_numpy(np.concatenate([self.text[i] for i in indices])).float().to(device)
