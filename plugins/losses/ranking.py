"""The contrastive ranking loss of Oncescu et al. (2021) and the report's two changes to it.

    L = 1/B * sum_{i != j} [m r(c_ij) + s_ij - s_ii]_+ + [m r(c_ij) + s_ji - s_ii]_+
    total = L + w * L_M,   L_M = -1/B * sum_i s_ii

``s_ij`` is the mean cosine similarity of audio ``i`` to the captions of clip ``j`` (all of
them, however many each clip has: :meth:`benchmark.api.LossInput.clip_similarity`). The
first hinge ranks clip ``i``'s captions above other clips' captions for audio ``i``; the
second ranks audio ``i`` above other audio for clip ``i``'s captions. With ``relax`` unset,
``r = 1`` (the plain loss); with it, ``r`` is the report's CIDEr relaxation
(:mod:`bench_plugins.losses.relax`), so pairs of clips with similar captions are pushed
apart with a smaller margin. ``matching_weight`` ``w`` adds the report's matching term.

The relaxed loss holds, per split and on the CPU (never as buffers), either the whole
``c_ij`` matrix of a split of up to ``DENSE_CLIPS`` clips (bounded memory, a lookup per
step) or its CIDEr vectors (linear in its clips), from which each batch's ``B x B`` block is
computed; the block is put on the device of the similarities. ``threshold_estimate``
says how the percentiles were obtained (exact, or sampled with a bound), and
:meth:`RankingLoss.evidence` hands both to the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.api import BenchError, LossContext, LossInput

from bench_plugins.losses.cider_pairs import ClipPairs
from bench_plugins.losses.pair_quantiles import PercentileEstimate
from bench_plugins.losses.relax import CiderCache, check_captions, relax


#: Splits of up to this many clips keep their whole ``c_ij`` matrix (at most 256 MB of
#: float32; Clotho's development split is 59 MB) and look each batch's block up, about ten
#: times faster per step than computing it; larger ones compute blocks from the vectors.
DENSE_CLIPS = 8192


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
                    "relax must be {percentiles: [increasing...], values: [...]} of equal length, "
                    f"got {relax}"
                )
        self.thresholds: list[float] | None = None
        self.threshold_estimate: PercentileEstimate | None = None
        self.pairs: dict[str, ClipPairs | np.ndarray] = {}

    def prepare(self, context: LossContext) -> None:
        """Compute (or load) each split's CIDEr vectors and the training percentiles."""
        if self.relax_settings is None:
            return
        check_captions(context)
        cache = CiderCache(context.cache_dir)
        vectors = {role: cache.pairs(captions) for role, captions in context.captions.items()}
        # A split small enough keeps its whole matrix, and a batch's block is a lookup.
        self.pairs = {role: cache.matrix(captions, vectors[role]) if len(captions) <= DENSE_CLIPS else vectors[role]
                      for role, captions in context.captions.items()}
        self.threshold_estimate = cache.estimate(context.captions["train"], self.relax_settings["percentiles"],
                                                 self.pairs["train"])
        self.thresholds = self.threshold_estimate.values

    def evidence(self) -> dict[str, Any]:
        """What the loss derived from the training data, for the result's ``loss_evidence``:
        the relax function's CIDEr thresholds at its percentiles and how they were obtained
        (exact over all pairs, or sampled with its rank-error bound and confidence), as the
        cache file keeps them; nothing for the plain loss."""
        if self.threshold_estimate is None or self.relax_settings is None:
            return {}
        percentiles = list(self.relax_settings["percentiles"])
        return {"cider_thresholds": {"percentiles": percentiles, **self.threshold_estimate.as_dict()}}

    def margins(self, batch: LossInput) -> torch.Tensor | float:
        """``m * r(c_ij)`` for every pair in the batch (a scalar when not relaxed)."""
        if self.relax_settings is None:
            return self.margin
        if self.thresholds is None:
            raise BenchError("relax: prepare() was not called before training")
        index, table = batch.clip_index.detach().cpu().numpy(), self.pairs[batch.split]
        block = table[np.ix_(index, index)] if isinstance(table, np.ndarray) else table.block(index)
        c = torch.from_numpy(block).to(batch.similarity.device)
        return self.margin * relax(c, self.thresholds, self.relax_settings["values"])

    def extra_repr(self) -> str:
        estimate = self.threshold_estimate
        if estimate is None:
            return f"margin={self.margin}, matching_weight={self.matching_weight}, relax={self.relax_settings}"
        how = ("exact" if estimate.method == "exact" else
               f"sampled, {estimate.pairs} pairs, within {estimate.rank_error:g} percentile points "
               f"with probability {estimate.confidence:g}")
        return (f"margin={self.margin}, matching_weight={self.matching_weight}, relax={self.relax_settings}, "
                f"thresholds={self.thresholds} ({how})")

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
