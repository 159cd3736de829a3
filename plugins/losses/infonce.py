"""Symmetric InfoNCE (the CLIP objective), as used by the later DCASE task 6B baselines and
CLAP: a cross-entropy over the batch in both directions, on similarities scaled by a
learnable inverse temperature.

    logits_k = exp(t) * s[:, :, k]          (audio i against caption k of clip j)
    L = 1/K sum_k ( CE(logits_k, diag) + CE(logits_k^T, diag) ) / 2

Each of a clip's ``K`` captions forms its own batch of ``B`` pairs, so every caption is
used and each softmax has exactly one positive. When clips have different numbers of
captions (the batch's :attr:`~benchmark.api.LossInput.mask`), caption ``k``'s batch holds
the clips that have a ``k``-th caption: each such caption is scored against all ``B`` audio,
each of those clips' audio against their ``k``-th captions only, and the loss is the mean
over the captions there are (with equal counts, the formula above).

``t`` starts at ``log(1 / temperature)`` and the scale is clamped at ``max_scale`` (100, as
in CLIP) so it cannot run away.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.api import BenchError, LossInput


class InfoNCELoss(nn.Module):
    def __init__(self, temperature: float = 0.07, learn_temperature: bool = True, max_scale: float = 100.0) -> None:
        super().__init__()
        if not 0.0 < float(temperature):
            raise BenchError(f"temperature must be positive, got {temperature}")
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / float(temperature))), requires_grad=bool(learn_temperature))
        self.max_scale = float(max_scale)

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.exp().clamp(max=self.max_scale)

    def forward(self, batch: LossInput) -> torch.Tensor:
        s = batch.similarity  # [B, B, K]
        targets = torch.arange(s.shape[0], device=s.device)
        logits = self.scale * s.permute(2, 0, 1)  # [K, B audio, B clips]
        if batch.mask is None:
            audio_to_text = F.cross_entropy(logits.flatten(0, 1), targets.repeat(s.shape[2]))
            text_to_audio = F.cross_entropy(logits.transpose(1, 2).flatten(0, 1), targets.repeat(s.shape[2]))
            return (audio_to_text + text_to_audio) / 2
        present = batch.mask.T  # [K, B]: clip j has a caption k
        own = targets.expand_as(present)[present]  # the clip (and audio) of each caption there is
        # Caption k of clip j against every audio; audio j against the k-th captions there are.
        text_to_audio = F.cross_entropy(logits.transpose(1, 2)[present], own)
        others = present[:, None, :].expand_as(logits)[present]  # per audio row: the clips with a k-th caption
        audio_to_text = F.cross_entropy(logits[present].masked_fill(~others, float("-inf")), own)
        return (audio_to_text + text_to_audio) / 2
