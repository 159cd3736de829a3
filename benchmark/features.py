"""Precomputed inputs: expert frame sequences and frozen caption embeddings, via the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.api import Expert
from benchmark.audio import load_audio
from benchmark.cache import EmbeddingCache, SequenceStore
from benchmark.data import Split


def _split_key(dataset_key: str, split: Split) -> dict[str, Any]:
    """Identifies a split's contents: its dataset, name and the exact file list, and the
    files' content when the dataset's options do not fix it (``Split.fingerprint``)."""
    from benchmark.io import stable_hash

    key = {"dataset": dataset_key, "split": split.name, "files": stable_hash(split.file_names, 16)}
    if split.fingerprint:  # absent otherwise: entries of fixed releases keep their keys
        key["content"] = split.fingerprint
    return key


def expert_features(
    name: str, expert: Expert, dataset_key: str, split: Split, cache_root: Path, shard: tuple[int, int] = (0, 1)
) -> SequenceStore | None:
    """Frames of every clip in ``split`` from ``expert``, computed once and then memory-mapped.

    With ``shard=(i, n)``, only shard ``i`` of ``n`` is computed here, and None comes back
    until every shard is done (see :class:`benchmark.cache.EmbeddingCache`)."""
    key = {"expert": name, "settings": expert.settings(), **_split_key(dataset_key, split)}
    if split.crop_seconds is not None:
        key["crop_seconds"] = split.crop_seconds
    cache = EmbeddingCache(cache_root, "experts", name, key)

    def compute(indices: list[int]) -> list[np.ndarray]:
        waveforms = [load_audio(split.audio_paths[i], expert.sample_rate, split.crop_seconds) for i in indices]
        return [np.asarray(e, dtype=np.float32) for e in expert.embed(waveforms)]

    return cache.get_or_compute(
        split.file_names, compute, chunk_size=max(expert.batch_size, 32), desc=f"{name} on {split.name}", shard=shard
    )


def caption_embeddings(
    name: str, encoder: Any, dataset_key: str, split: Split, cache_root: Path, shard: tuple[int, int] = (0, 1)
) -> SequenceStore | None:
    """All captions of every clip embedded by a frozen ``encoder``: ``store[j]`` is ``(n_captions_j, dim)``.

    Identical caption strings are encoded once.
    """
    import torch

    key = {"text_encoder": name, "settings": encoder.settings(), **_split_key(dataset_key, split)}
    cache = EmbeddingCache(cache_root, "text", name, key)

    def compute(indices: list[int]) -> list[np.ndarray]:
        texts = sorted({c for i in indices for c in split.captions[i]})
        with torch.inference_mode():
            vectors = torch.cat([encoder(texts[s : s + 256]) for s in range(0, len(texts), 256)]).float().cpu().numpy()
        row = {text: n for n, text in enumerate(texts)}
        return [vectors[[row[c] for c in split.captions[i]]] for i in indices]

    return cache.get_or_compute(split.file_names, compute, chunk_size=256, desc=f"captions of {split.name}", shard=shard)
