"""The report's fusion: average the expert vectors *before* normalising.

An expert whose vector is short counts for less on the unit sphere, so magnitude acts
as a per-clip confidence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MeanFusion(nn.Module):
    def __init__(self, n_experts: int, dim: int) -> None:
        super().__init__()  # parameter-free: any number of experts of any width

    def forward(self, expert_vectors: list[torch.Tensor], text: torch.Tensor) -> torch.Tensor:
        audio = torch.stack(expert_vectors, dim=0).mean(dim=0)
        return F.normalize(audio, dim=-1) @ F.normalize(text, dim=-1).T
