"""The report's CIDEr relaxation: clip-to-clip CIDEr, its percentiles and the relax function r.

Clip-to-clip score ``c_ij``: each caption of clip ``i`` is scored by CIDEr-D against the
reference set of clip ``j`` (all of ``j``'s captions; for ``i == j`` the caption is among
its own references, which only affects the unused diagonal). ``c_ij`` is the mean over
``i``'s captions, symmetrised as ``(c_ij + c_ji) / 2`` because the loss uses one margin per
unordered pair in both directions. Document frequencies are taken over the clips of the
split. With one caption per clip (AudioCaps' training split) this is simply
``(CIDEr(cap_i, [cap_j]) + CIDEr(cap_j, [cap_i])) / 2``.

The relax function is piecewise linear through ``(c_q, v)`` for the loss's percentiles
``q`` and values ``v`` (the report's are the reference system's, in ``cider_relax.yaml``)
and constant outside, where ``c_q`` are percentiles of ``c_ij`` over pairs of distinct
training clips. Matrices and percentiles are cached per split content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark.api import BenchError, LossContext, atomic_path, stable_hash, write_json

from bench_plugins.losses.cider import N, SIGMA, cider_d, tokenize

#: Fewest distinct clip pairs for which a 99th percentile means anything.
MIN_PAIRS = 100
VERSION = 1  # bump when the CIDEr computation or tokenisation changes


def check_captions(context: LossContext) -> None:
    """Refuse, naming its split and clip, a caption with no word CIDEr can count
    (punctuation only): it has no n-grams to compare."""
    for role, split_captions in context.captions.items():
        names = context.clips.get(role) or [f"clip {i}" for i in range(len(split_captions))]
        for name, clip_captions in zip(names, split_captions):
            for k, caption in enumerate(clip_captions):
                if not tokenize(caption):
                    raise BenchError(
                        f"{context.dataset}, {role} split: caption {k + 1} of {name} ({caption!r}) has no words "
                        "for CIDEr; fix or remove it in the dataset's captions, or use a loss without relax"
                    )


def clip_cider(captions: Sequence[Sequence[str]]) -> np.ndarray:
    """Symmetric ``(n_clips, n_clips)`` float32 matrix of clip-to-clip CIDEr-D (see module doc)."""
    tokens = []
    for clip, clip_captions in enumerate(captions):
        clip_tokens = []
        for k, caption in enumerate(clip_captions):
            words = tokenize(caption)
            if not words:
                raise BenchError(f"caption {k + 1} of clip {clip} ({caption!r}) is empty after tokenisation")
            clip_tokens.append(words)
        tokens.append(clip_tokens)
    if not tokens:
        raise BenchError("no captions to compute CIDEr on")
    per_caption = cider_d([t for clip in tokens for t in clip], tokens)  # (n_captions, n_clips)
    sizes = np.array([len(clip) for clip in tokens])
    per_clip = np.add.reduceat(per_caption, np.concatenate([[0], np.cumsum(sizes)[:-1]]), axis=0) / sizes[:, None]
    return ((per_clip + per_clip.T) / 2).astype(np.float32)


def percentiles(matrix: np.ndarray, qs: Sequence[float]) -> list[float]:
    """Percentiles of ``matrix`` over pairs of distinct clips."""
    n = matrix.shape[0]
    pairs = n * (n - 1) // 2
    if pairs < MIN_PAIRS:
        raise BenchError(
            f"the training split has {n} clips ({pairs} distinct pairs); the CIDEr percentiles need at "
            f"least {MIN_PAIRS} pairs (15 clips)"
        )
    upper = matrix[np.triu_indices(n, k=1)]
    return [float(v) for v in np.percentile(upper, qs)]


@dataclass
class CiderCache:
    """Clip-to-clip CIDEr matrices and their percentiles, cached on disk by caption content."""

    root: Path

    def _directory(self, captions: Sequence[Sequence[str]]) -> Path:
        key = {"version": VERSION, "n": N, "sigma": SIGMA, "captions": stable_hash([list(c) for c in captions], 24)}
        return self.root / "cider" / stable_hash(key, 16)

    def matrix(self, captions: Sequence[Sequence[str]]) -> np.ndarray:
        path = self._directory(captions) / "clip_cider.npy"
        if path.is_file():
            return np.load(path)
        matrix = clip_cider(captions)
        with atomic_path(path) as tmp:
            np.save(tmp, matrix)
        return matrix

    def percentiles(self, captions: Sequence[Sequence[str]], qs: Sequence[float]) -> list[float]:
        path = self._directory(captions) / f"percentiles-{'-'.join(f'{q:g}' for q in qs)}.json"
        if path.is_file():
            return json.loads(path.read_text())["values"]
        values = percentiles(self.matrix(captions), qs)
        write_json(path, {"percentiles": list(qs), "values": values})
        return values


def relax(c, thresholds: Sequence[float], values: Sequence[float]):
    """Piecewise-linear r(c) through ``(thresholds[k], values[k])``, constant outside.

    Works on torch tensors and numpy arrays alike. Two equal thresholds make a step.
    """
    out = c * 0 + values[0]
    for (t0, v0), (t1, v1) in zip(zip(thresholds, values), zip(thresholds[1:], values[1:])):
        if t1 > t0:
            fraction = ((c - t0) / (t1 - t0)).clip(0, 1)
        else:
            fraction = (c >= t1) * 1.0
        out = out + (v1 - v0) * fraction
    return out
