"""Retrieval scores as DCASE 2022 task 6B defines them.

Text-to-audio: every caption is a query with exactly one relevant clip (its own).
Its rank is 1 + the number of *other* clips scored at least as high, so ties count
against the system: a clip tied with the right one ranks ahead of it. R@k is the share of
queries whose clip ranks in the top k; AP@10 is 1/rank when rank <= 10, else 0 (one
relevant item), and mAP@10 its mean over queries.

Audio-to-text (reported alongside): every clip is a query whose relevant items are all
its captions; R@k is the share of clips with at least one of their captions in the top k,
ties again counted against the system.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from benchmark.errors import BenchError

KS = (1, 5, 10)


def _check(similarity: np.ndarray, caption_to_audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    similarity = np.asarray(similarity, dtype=np.float64)
    caption_to_audio = np.asarray(caption_to_audio, dtype=np.int64)
    if similarity.ndim != 2:
        raise BenchError(f"similarity must be (n_captions, n_audio), got shape {similarity.shape}")
    if caption_to_audio.shape != (similarity.shape[0],):
        raise BenchError(
            f"caption_to_audio has {caption_to_audio.shape} entries for {similarity.shape[0]} captions"
        )
    if caption_to_audio.size and (caption_to_audio.min() < 0 or caption_to_audio.max() >= similarity.shape[1]):
        raise BenchError("caption_to_audio holds a clip index outside the similarity matrix")
    if not np.isfinite(similarity).all():
        raise BenchError("similarity matrix contains NaN or infinite values")
    return similarity, caption_to_audio


def caption_ranks(similarity: np.ndarray, caption_to_audio: Sequence[int] | np.ndarray) -> np.ndarray:
    """1-based rank of each caption's own clip among all clips (ties count against)."""
    similarity, caption_to_audio = _check(similarity, caption_to_audio)
    rows = np.arange(similarity.shape[0])
    target = similarity[rows, caption_to_audio]
    at_least = (similarity >= target[:, None]).sum(axis=1)  # includes the clip itself
    return at_least.astype(np.int64)


def retrieval_metrics(similarity: np.ndarray, caption_to_audio: Sequence[int] | np.ndarray) -> dict[str, float]:
    """Text-to-audio R@1, R@5, R@10 and mAP@10.

    ``similarity`` is ``(n_captions, n_audio)``; ``caption_to_audio[k]`` is the index of
    caption ``k``'s clip.
    """
    ranks = caption_ranks(similarity, caption_to_audio)
    metrics = {f"R@{k}": float((ranks <= k).mean()) for k in KS}
    metrics["mAP@10"] = float(np.where(ranks <= 10, 1.0 / ranks, 0.0).mean())
    return metrics


def audio_to_text_metrics(similarity: np.ndarray, caption_to_audio: Sequence[int] | np.ndarray) -> dict[str, float]:
    """Audio-to-text R@1, R@5, R@10 from the same ``(n_captions, n_audio)`` matrix."""
    similarity, caption_to_audio = _check(similarity, caption_to_audio)
    by_audio = similarity.T  # (n_audio, n_captions)
    best_rank = np.empty(by_audio.shape[0], dtype=np.int64)
    for audio in range(by_audio.shape[0]):
        scores = by_audio[audio]
        relevant = caption_to_audio == audio
        if not relevant.any():
            raise BenchError(f"clip {audio} has no caption among the queries")
        best = scores[relevant].max()
        # Rank of the best relevant caption: every irrelevant caption scored >= it is ahead.
        best_rank[audio] = 1 + int((scores[~relevant] >= best).sum())
    return {f"R@{k}": float((best_rank <= k).mean()) for k in KS}


def chance_metrics(n_audio: int) -> dict[str, float]:
    """Expected text-to-audio scores of a random ranking over ``n_audio`` clips."""
    recall = {f"R@{k}": min(k, n_audio) / n_audio for k in KS}
    recall["mAP@10"] = sum(1.0 / r for r in range(1, min(10, n_audio) + 1)) / n_audio
    return recall
