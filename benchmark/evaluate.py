"""Scoring a trained model on a split: every caption of every clip is a query."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from benchmark.api import Split
from benchmark.conventions import DEFAULT, convention, values
from benchmark.metrics import audio_to_text_metrics, chance_metrics, retrieval_metrics
from benchmark.model import ClipInputs, RetrievalModel
from benchmark.queries import QueryList, QueryRecord, Relevance
from benchmark.uncertainty import intervals


@torch.no_grad()
def similarity(model: RetrievalModel, data: ClipInputs, device: torch.device, batch_size: int = 256) -> np.ndarray:
    """``(n_captions, n_clips)`` similarities of every caption of ``data`` to every clip."""
    model.eval()
    n = len(data)
    vectors: list[list[torch.Tensor]] = []
    for start in range(0, n, batch_size):
        indices = np.arange(start, min(start + batch_size, n))
        vectors.append(model.audio_vectors(data.audio_batch(indices, device)))
    audio = [torch.cat([chunk[e] for chunk in vectors]) for e in range(len(data.audio))]
    text = torch.cat(
        [
            model.text_embeddings(data.text_batch(np.arange(s, min(s + batch_size, n)), device)).float()
            for s in range(0, n, batch_size)
        ]
    )
    return model.fusion([a.float() for a in audio], text).T.cpu().numpy()


def score(model: RetrievalModel, data: ClipInputs, split: Split, device: torch.device,
          relevance: Relevance = Relevance(), sets: Mapping[str, QueryList] | None = None) -> dict[str, Any]:
    """Text-to-audio and audio-to-text metrics of ``model`` on ``data`` (the clips of
    ``split``, all captions used), the per-query record behind them (keeping the clips
    ``relevance`` adds and the dataset's query ``sets``) and 95% bootstrap intervals of the
    text-to-audio metrics under the default convention."""
    scores = similarity(model, data, device)
    caption_to_audio = np.repeat(np.arange(len(data)), [len(c) for c in data.captions])
    queries = QueryRecord.from_similarity(scores, split.file_names, split.captions, relevance, sets)
    per_query = values(queries.ranks, convention(DEFAULT))
    return {
        "text_to_audio": retrieval_metrics(scores, caption_to_audio),
        "audio_to_text": audio_to_text_metrics(scores, caption_to_audio),
        "chance": chance_metrics(len(data)),
        "n_clips": len(data),
        "n_captions": int(len(caption_to_audio)),
        "queries": queries,
        "relevance": relevance.describe(),
        "intervals": {metric: list(bounds) for metric, bounds in intervals(per_query, caption_to_audio).items()},
    }
