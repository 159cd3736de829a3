"""The contrastive ranking loss of Oncescu et al. (2021), as the report writes it.

    L = 1/B * sum_{i != j} [m + s_ij - s_ii]_+ + [m + s_ji - s_ii]_+

with ``s_ij`` the mean cosine similarity of audio ``i`` to the captions of clip ``j``.
The first term ranks clip ``i``'s captions above other clips' captions for audio ``i``;
the second ranks audio ``i`` above other audio for clip ``i``'s captions.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmark.api import LossInput


class RankingLoss(nn.Module):
    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        self.margin = float(margin)

    def margins(self, batch: LossInput) -> torch.Tensor | float:
        """The margin for each pair ``(i, j)``; subclasses relax it per pair."""
        return self.margin

    def forward(self, batch: LossInput) -> torch.Tensor:
        s = batch.clip_similarity()
        positive = s.diagonal()
        margin = self.margins(batch)
        # [i, j]: audio i against clip j's captions, and clip j's captions against audio i.
        wrong_caption = (margin + s - positive[:, None]).clamp(min=0)
        wrong_audio = (margin + s - positive[None, :]).clamp(min=0)
        off_diagonal = ~torch.eye(s.shape[0], dtype=torch.bool, device=s.device)
        return ((wrong_caption + wrong_audio) * off_diagonal).sum() / s.shape[0]
