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
training clips: exact over all pairs up to 10,000 clips, from sampled pairs with a stated
rank-error bound beyond (:mod:`bench_plugins.losses.pair_quantiles`).

Beyond a bounded size (``ranking.DENSE_CLIPS``) the loss never holds the n x n matrix:
each split's per-caption CIDEr-D vectors (:class:`bench_plugins.losses.cider_pairs.ClipPairs`,
linear in the number of clips) are kept and each batch's block of ``c_ij`` is computed
from them. Vectors, percentiles and the matrices of small splits are cached per split
content.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark.api import BenchError, LossContext, atomic_path, stable_hash, write_json

from bench_plugins.losses.cider import N, SIGMA, tokenize
from bench_plugins.losses.cider_pairs import ClipPairs
from bench_plugins.losses.pair_quantiles import PercentileEstimate, estimate

#: Fewest distinct clip pairs for which a 99th percentile means anything.
MIN_PAIRS = 100
VERSION = 2  # bump when the CIDEr computation, tokenisation or cached files change


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
    """Symmetric ``(n_clips, n_clips)`` float32 matrix of clip-to-clip CIDEr-D (see module doc);
    n² memory, for small splits (the loss uses blocks of it)."""
    return ClipPairs.from_captions(captions).matrix()


def check_pairs(n: int) -> None:
    """Refuse a training split with too few clip pairs for the percentiles."""
    pairs = n * (n - 1) // 2
    if pairs < MIN_PAIRS:
        raise BenchError(
            f"the training split has {n} clips ({pairs} distinct pairs); the CIDEr percentiles need at "
            f"least {MIN_PAIRS} pairs (15 clips)"
        )


def percentiles(matrix: np.ndarray, qs: Sequence[float]) -> list[float]:
    """Percentiles of ``matrix`` over pairs of distinct clips (``np.percentile``'s, to the bit)."""
    n = matrix.shape[0]
    check_pairs(n)
    upper = matrix[np.triu_indices(n, k=1)]
    return [float(v) for v in np.percentile(upper, qs)]


@dataclass
class CiderCache:
    """Each split's CIDEr vectors and the training percentiles, cached on disk by caption
    content (the full matrix too, only when :meth:`matrix` is asked for)."""

    root: Path

    def _directory(self, captions: Sequence[Sequence[str]]) -> Path:
        key = {"version": VERSION, "n": N, "sigma": SIGMA, "captions": stable_hash([list(c) for c in captions], 24)}
        return self.root / "cider" / stable_hash(key, 16)

    def pairs(self, captions: Sequence[Sequence[str]]) -> ClipPairs:
        """The split's per-caption vectors, from which any block of ``c_ij`` is computed."""
        path = self._directory(captions) / "clip_vectors.npz"
        if path.is_file():
            with np.load(path) as arrays:
                return ClipPairs.from_arrays(dict(arrays))
        pairs = ClipPairs.from_captions(captions)
        with atomic_path(path) as tmp, open(tmp, "wb") as file:
            np.savez(file, **pairs.arrays())
        return pairs

    def matrix(self, captions: Sequence[Sequence[str]], pairs: ClipPairs | None = None) -> np.ndarray:
        """The full ``(n, n)`` matrix: n² memory, for small splits; ``pairs``: the split's
        vectors, if at hand."""
        path = self._directory(captions) / "clip_cider.npy"
        if path.is_file():
            return np.load(path)
        matrix = (pairs if pairs is not None else self.pairs(captions)).matrix()
        with atomic_path(path) as tmp:
            np.save(tmp, matrix)
        return matrix

    def estimate(self, captions: Sequence[Sequence[str]], qs: Sequence[float],
                 known: ClipPairs | np.ndarray | None = None) -> PercentileEstimate:
        """The percentiles ``qs`` of ``c_ij`` over distinct pairs, and how they were obtained
        (exact, or sampled with its bound); ``known``: the split's vectors or whole matrix, if
        at hand (a matrix gives the exact values at once, without visiting the pairs again)."""
        check_pairs(len(captions))
        path = self._directory(captions) / f"percentiles-{'-'.join(f'{q:g}' for q in qs)}.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            return PercentileEstimate(**{k: v for k, v in saved.items() if k != "percentiles"})
        if isinstance(known, np.ndarray):
            population = len(captions) * (len(captions) - 1) // 2
            result = PercentileEstimate(percentiles(known, qs), "exact", population, population)
        else:
            result = estimate(known if known is not None else self.pairs(captions), qs)
        write_json(path, {"percentiles": list(qs), **result.as_dict()})
        return result

    def percentiles(self, captions: Sequence[Sequence[str]], qs: Sequence[float]) -> list[float]:
        return self.estimate(captions, qs).values


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
