"""The contrastive ranking loss of Oncescu et al. (2021) and the report's two changes to it.

    L = 1/B * sum_{i != j} [m r(c_ij) + s_ij - s_ii]_+ + [m r(c_ij) + s_ji - s_ii]_+
    total = L + w * L_M,   L_M = -1/B * sum_i s_ii

``s_ij`` is the mean cosine similarity of audio ``i`` to the captions of clip ``j``. The
first hinge ranks clip ``i``'s captions above other clips' captions for audio ``i``; the
second ranks audio ``i`` above other audio for clip ``i``'s captions. With ``relax`` unset,
``r = 1`` (the plain loss); with it, ``r`` is the report's CIDEr relaxation
(:mod:`bench_plugins.losses.relax`), so pairs of clips with similar captions are pushed
apart with a smaller margin. ``matching_weight`` ``w`` adds the report's matching term.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from benchmark.api import BenchError, LossContext, LossInput

from bench_plugins.losses.relax import CiderCache, check_captions, relax


class RankingLoss(nn.Module):
    def __init__(self, margin: float = 0.2, matching_weight: float = 0.0, relax: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.margin = float(margin)
        self.matching_weight = float(matching_weight)
        self.relax_settings = dict(relax) if relax else None
        if self.relax_settings is not None:
            unknown = set(self.relax_settings) - {"percentiles", "values"}
            qs, values = self.relax_settings.get("percentiles"), self.relax_settings.get("values")
            if unknown or not qs or not values or len(qs) != len(values) or list(qs) != sorted(qs):
                raise BenchError(
                    "loss 'ranking': relax must be {percentiles: [increasing...], values: [...]} of equal length, "
                    f"got {relax}"
                )
        self.thresholds: list[float] | None = None

    def prepare(self, context: LossContext) -> None:
        """Compute (or load) clip-to-clip CIDEr for each split and the training percentiles."""
        if self.relax_settings is None:
            return
        check_captions(context)
        cache = CiderCache(context.cache_dir)
        self.thresholds = cache.percentiles(context.captions["train"], self.relax_settings["percentiles"])
        for role, captions in context.captions.items():
            # Buffers follow the loss to its device; non-persistent keeps them out of checkpoints.
            self.register_buffer(f"cider_{role}", torch.from_numpy(cache.matrix(captions)), persistent=False)

    def margins(self, batch: LossInput) -> torch.Tensor | float:
        """``m * r(c_ij)`` for every pair in the batch (a scalar when not relaxed)."""
        if self.relax_settings is None:
            return self.margin
        if self.thresholds is None:
            raise BenchError("loss 'ranking' with relax: prepare() was not called before training")
        matrix = getattr(self, f"cider_{batch.split}")
        index = batch.clip_index
        c = matrix[index][:, index]
        return self.margin * relax(c, self.thresholds, self.relax_settings["values"])

    def forward(self, batch: LossInput) -> torch.Tensor:
        s = batch.clip_similarity()
        positive = s.diagonal()
        margin = self.margins(batch)
        # [i, j]: audio i against clip j's captions, and clip j's captions against audio i.
        wrong_caption = (margin + s - positive[:, None]).clamp(min=0)
        wrong_audio = (margin + s - positive[None, :]).clamp(min=0)
        off_diagonal = ~torch.eye(s.shape[0], dtype=torch.bool, device=s.device)
        loss = ((wrong_caption + wrong_audio) * off_diagonal).sum() / s.shape[0]
        if self.matching_weight:
            loss = loss - self.matching_weight * positive.mean()
        return loss
