"""Scoring a trained model on a split: every caption of every clip is a query."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from benchmark.metrics import audio_to_text_metrics, chance_metrics, retrieval_metrics
from benchmark.model import ClipInputs, RetrievalModel


@torch.no_grad()
def score(model: RetrievalModel, data: ClipInputs, device: torch.device, batch_size: int = 256) -> dict[str, Any]:
    """Text-to-audio and audio-to-text metrics of ``model`` on ``data`` (all captions used)."""
    model.eval()
    n = len(data)
    vectors: list[list[torch.Tensor]] = []
    for start in range(0, n, batch_size):
        indices = np.arange(start, min(start + batch_size, n))
        vectors.append(model.audio_vectors(data.audio_batch(indices, device)))
    audio = [torch.cat([chunk[e] for chunk in vectors]) for e in range(len(data.audio))]
    text = torch.cat(
        [
            model.text_embeddings(data.text_batch(np.arange(s, min(s + batch_size, n)), None, device)).float()
            for s in range(0, n, batch_size)
        ]
    )
    similarity = model.fusion([a.float() for a in audio], text).T.cpu().numpy()  # (n_captions, n_audio)
    caption_to_audio = np.repeat(np.arange(n), [len(c) for c in data.captions])
    return {
        "text_to_audio": retrieval_metrics(similarity, caption_to_audio),
        "audio_to_text": audio_to_text_metrics(similarity, caption_to_audio),
        "chance": chance_metrics(n),
        "n_clips": n,
        "n_captions": int(len(caption_to_audio)),
    }
