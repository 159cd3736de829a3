"""Mixture of embedded experts (Miech et al., 2018) and collaborative gating (Liu et al.,
2019, "Use what you have"): the fusion of Oncescu et al. (2021), which the reference
report replaced by the unnormalised mean.

Each expert ``e`` gets its own embedding space. The audio vector ``x_e`` (from the
expert's temporal head) and the caption embedding ``t`` each pass a gated embedding unit
(GEU): ``z = W1 x``, ``y = z * sigmoid(W2 z + b2)``, then L2 normalisation (``W1`` has
no bias, so a vector gated to zero embeds to zero and adds nothing to the similarity). The
caption also predicts one weight per expert (a linear layer and a softmax), and

    s(audio, caption) = sum_e w_e(caption) * <audio_e, caption_e>

so a caption about a dog's bark can lean on the experts that hear barks. Collaborative
gating adds, before the GEU, a gate on each expert from all the others:

    T_e = h( sum_{j != e} g([x_e, x_j]) ),     x_e <- x_e * sigmoid(T_e)

with ``g`` and ``h`` two-layer MLPs shared by all pairs; an expert the others contradict
can be switched off clip by clip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GatedEmbeddingUnit(nn.Module):
    """``x -> normalise(z * sigmoid(W2 z + b2))`` with ``z = W1 x`` (Miech et al.)."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(input_dim, output_dim, bias=False)
        self.gate = nn.Linear(output_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.project(x)
        return F.normalize(z * torch.sigmoid(self.gate(z)), dim=-1)


class CollaborativeGate(nn.Module):
    """Per-expert gates in (0, 1) computed from every pair of experts."""

    def __init__(self, dim: int, hidden_dim: int | None = None) -> None:
        super().__init__()
        hidden = hidden_dim or dim
        self.g = nn.Sequential(nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        self.h = nn.Sequential(nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, vectors: list[torch.Tensor]) -> list[torch.Tensor]:
        gates = []
        for e, x in enumerate(vectors):
            messages = [self.g(torch.cat([x, other], dim=-1)) for j, other in enumerate(vectors) if j != e]
            total = torch.stack(messages).sum(dim=0) if messages else x.new_zeros(x.shape[0], self.h[1].in_features)
            gates.append(torch.sigmoid(self.h(total)))
        return gates


class MixtureOfEmbeddedExperts(nn.Module):
    """Per-expert GEU spaces on both sides, mixed by caption-predicted weights (``moee``)."""

    collaborative = False

    def __init__(self, n_experts: int, dim: int, embed_dim: int | None = None) -> None:
        super().__init__()
        out = embed_dim or dim
        self.audio_units = nn.ModuleList(GatedEmbeddingUnit(dim, out) for _ in range(n_experts))
        self.text_units = nn.ModuleList(GatedEmbeddingUnit(dim, out) for _ in range(n_experts))
        self.mixture = nn.Linear(dim, n_experts)
        self.gate = CollaborativeGate(dim) if self.collaborative else None

    def mixture_weights(self, text: torch.Tensor) -> torch.Tensor:
        """``[n_captions, n_experts]``, each row summing to 1."""
        return torch.softmax(self.mixture(text), dim=-1)

    def gates(self, vectors: list[torch.Tensor]) -> list[torch.Tensor] | None:
        return self.gate(vectors) if self.gate is not None else None

    def forward(self, expert_vectors: list[torch.Tensor], text: torch.Tensor) -> torch.Tensor:
        gates = self.gates(expert_vectors)
        if gates is not None:
            expert_vectors = [x * g for x, g in zip(expert_vectors, gates)]
        weights = self.mixture_weights(text)
        similarity = 0
        for e, (x, audio_unit, text_unit) in enumerate(zip(expert_vectors, self.audio_units, self.text_units)):
            similarity = similarity + (audio_unit(x) @ text_unit(text).T) * weights[:, e][None, :]
        return similarity


class CollaborativeGating(MixtureOfEmbeddedExperts):
    """``moee`` with collaborative gating of each expert by the others (``collaborative_gating``)."""

    collaborative = True
