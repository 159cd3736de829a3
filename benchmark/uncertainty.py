"""How sure a score is: bootstrap intervals over clips, and paired comparisons of two runs.

Queries are not independent: the captions of one clip share its audio. The bootstrap
therefore resamples *clips*, each with all its captions (seeded, 1,000 resamples by
default), and takes the 2.5th and 97.5th percentiles of the resampled means (the
percentile interval). Two runs on the same test split are compared query by query: the
difference's interval comes from the same clip bootstrap, and its p-value from a paired
permutation test that swaps the two runs' values of each query at random (a two-sided
sign-flip test on the per-query differences).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.errors import BenchError

RESAMPLES = 1000
LEVEL = 0.95


def _clip_totals(values: np.ndarray, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per clip: the sum of its queries' values (one column per row of ``values``) and their count."""
    values = np.atleast_2d(values)
    if values.shape[1] != len(clips):
        raise BenchError(f"{values.shape[1]} per-query values for {len(clips)} queries")
    _, group = np.unique(clips, return_inverse=True)
    totals = np.stack([np.bincount(group, row) for row in values], axis=1)
    return totals, np.bincount(group).astype(np.float64)


def _resampled_means(values: np.ndarray, clips: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """``(resamples, n_rows)`` means of ``values`` over clips drawn with replacement."""
    totals, counts = _clip_totals(values, clips)
    rng = np.random.default_rng(seed)
    n = len(counts)
    draws = rng.integers(0, n, size=(resamples, n)) + n * np.arange(resamples)[:, None]
    weights = np.bincount(draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)
    return (weights @ totals) / (weights @ counts)[:, None]


def interval(values: np.ndarray, clips: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """The 95% bootstrap interval of the mean of per-query ``values``, resampling the clips
    (``clips[q]`` is query ``q``'s clip) with all their queries."""
    means = _resampled_means(np.asarray(values, dtype=np.float64), np.asarray(clips), resamples, seed)[:, 0]
    low, high = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(low), float(high)


def intervals(values: dict[str, np.ndarray], clips: np.ndarray, resamples: int = RESAMPLES,
              seed: int = 0) -> dict[str, tuple[float, float]]:
    """:func:`interval` of several metrics at once, from the same resampled clips."""
    names = list(values)
    means = _resampled_means(np.stack([values[n] for n in names]), np.asarray(clips), resamples, seed)
    bounds = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2], axis=0)
    return {name: (float(bounds[0, i]), float(bounds[1, i])) for i, name in enumerate(names)}


@dataclass(frozen=True)
class Comparison:
    """Run A minus run B on one metric: the mean difference, its 95% interval, and the
    permutation test's two-sided p-value."""

    difference: float
    low: float
    high: float
    p_value: float


def compare(a: np.ndarray, b: np.ndarray, clips: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> Comparison:
    """Compare per-query values ``a`` and ``b`` of the same queries (paired)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise BenchError(f"paired values differ in length: {a.shape} and {b.shape}")
    difference = a - b
    low, high = interval(difference, clips, resamples, seed)
    observed = abs(difference.mean())
    rng = np.random.default_rng(seed + 1)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(resamples, len(difference)))
    permuted = np.abs(signs @ difference) / len(difference)
    p_value = (1 + int((permuted >= observed - 1e-12).sum())) / (resamples + 1)
    return Comparison(float(difference.mean()), low, high, p_value)
