"""Pooling heads: order-free summaries of an expert's frame sequence."""

from __future__ import annotations

import torch
from torch import nn

from benchmark.api import BenchError


def masked_mean(frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the first ``lengths[b]`` frames of each sequence in ``frames [B, T, D]``."""
    steps = torch.arange(frames.shape[1], device=frames.device)
    mask = (steps[None, :] < lengths[:, None]).to(frames.dtype).unsqueeze(-1)
    return (frames * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class MeanPoolHead(nn.Module):
    """Masked mean over time, then LayerNorm → Linear → GELU → Linear to ``output_dim``.

    Pooling first keeps the head cheap (the per-frame work is one sum), at the price of
    ignoring frame order: the floor an order-aware head should beat.
    """

    def __init__(self, input_dim: int, output_dim: int, hidden_dim: int = 256, dropout: float = 0.1) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.LayerNorm(input_dim),
            nn.Linear(input_dim, hidden_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, output_dim),
        )

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.mlp(masked_mean(frames, lengths))


class AverageHead(nn.Module):
    """Masked mean over time and nothing learned: for experts whose frames already live in
    the caption encoder's space (CLAP's audio windows), so a zero-shot system's clip
    embedding is the average of its windows' embeddings."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__()
        if input_dim != output_dim:
            raise BenchError(f"the average head learns nothing, so the expert's dimension ({input_dim}) must equal "
                             f"the caption encoder's ({output_dim}); use a head that projects, e.g. meanpool")

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return masked_mean(frames, lengths)


def masked_max(frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Max over the first ``lengths[b]`` frames (zeros for an empty sequence)."""
    steps = torch.arange(frames.shape[1], device=frames.device)
    valid = (steps[None, :] < lengths[:, None]).unsqueeze(-1)
    pooled = frames.masked_fill(~valid, float("-inf")).amax(dim=1)
    return torch.where(lengths[:, None] > 0, pooled, torch.zeros_like(pooled))


class AvgMaxPoolHead(nn.Module):
    """Oncescu et al.'s temporal aggregation: masked average and max pooling, concatenated,
    then one linear layer to ``output_dim`` (the shared dimension the fusion works in)."""

    def __init__(self, input_dim: int, output_dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.reduce = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * input_dim, output_dim))

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.reduce(torch.cat([masked_mean(frames, lengths), masked_max(frames, lengths)], dim=-1))
