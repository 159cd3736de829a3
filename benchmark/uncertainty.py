"""How sure a score is: bootstrap intervals over clips, and paired comparisons of two systems.

Queries are not independent: the captions of one clip share its audio. The bootstrap
therefore resamples *clips*, each with all its captions (seeded, 1,000 resamples by
default), and takes the 2.5th and 97.5th percentiles of the resampled means (the
percentile interval).

Two systems are compared on the same test queries in one of two ways:

- with one run each (:func:`compare`): clip by clip, the difference's interval from the
  same clip bootstrap and its p-value from a paired permutation test that swaps the two
  runs' values of each clip (all its captions together) at random: the test and the
  interval resample the same unit. This asks whether *these two trained models* differ;
  two seeds of one system can (measured on 20 seeds: 8.4% of 190 pairs at p < 0.05, where
  flipping queries one by one gave 34%), so it says nothing about training randomness;
- with two or more seeds each, paired by seed (:func:`compare_seeds`): a paired t-test on
  the per-seed differences of the means, whose spread holds training randomness and the
  test set's alike (measured: two "systems" of three seeds of one system differ at
  p < 0.05 in 5.0% of 200 splits of 20 seeds; ``benchmarks/permutation_calibration.py``);
- with two or more seeds each, paired or not (:func:`compare_runs`): a two-sample t-test
  on the runs' means, with twice the degrees of freedom of the paired test at two seeds;
  :func:`compare_systems` adds the clip-level test of the seed-averaged values, for the
  leaderboard's "≈ best" (told apart only when both tests tell).

A seed-level test sees no spread when the runs do not vary with the seed (a system that
trains nothing): its p-value is then 0 for any non-zero difference, the limit of the
t-test as the spread shrinks, and its interval is the difference itself. That is right
about training randomness, which is absent, and silent about the test set's sampling, which
:func:`compare` measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

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
    """System A minus system B on one metric: the mean difference, its 95% interval, the
    two-sided p-value, and which test gave them (``queries`` or ``seeds``)."""

    difference: float
    low: float
    high: float
    p_value: float
    test: str = "queries"


def compare(a: np.ndarray, b: np.ndarray, clips: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> Comparison:
    """Compare per-query values ``a`` and ``b`` of the same queries (paired), ``clips[q]``
    being query ``q``'s clip: the mean of ``a - b``, its clip bootstrap interval, and the
    p-value of a paired permutation test by clip. Under the null hypothesis that A and B
    are exchangeable, each clip's total difference (the sum over its captions) is as
    likely negated; the test flips the clips' totals' signs at random (``resamples``
    times, seeded) and counts the means at least as far from 0 as the observed one,
    ``p = (1 + count) / (1 + resamples)``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise BenchError(f"paired values differ in length: {a.shape} and {b.shape}")
    difference = a - b
    low, high = interval(difference, clips, resamples, seed)
    observed = abs(difference.mean())
    totals = _clip_totals(difference, np.asarray(clips))[0][:, 0]
    rng = np.random.default_rng(seed + 1)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(resamples, len(totals)))
    permuted = np.abs(signs @ totals) / len(difference)
    p_value = (1 + int((permuted >= observed - 1e-12).sum())) / (resamples + 1)
    return Comparison(float(difference.mean()), low, high, p_value)


def compare_seeds(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> Comparison:
    """Compare two systems from per-query values of runs paired by seed (``a[s]`` and
    ``b[s]`` on the same queries): a paired t-test and t-interval on the seeds' differences."""
    from scipy import stats

    if len(a) != len(b) or len(a) < 2:
        raise BenchError(f"a comparison over seeds needs two or more seeds on each side paired, got {len(a)} and {len(b)}")
    differences = np.array([np.mean(x) - np.mean(y) for x, y in zip(a, b)])
    if (differences == differences[0]).all():
        return _no_spread(float(differences[0]), "seeds")
    mean, error = float(differences.mean()), float(stats.sem(differences))
    half = float(stats.t.ppf((1 + LEVEL) / 2, len(differences) - 1)) * error
    p_value = float(stats.ttest_1samp(differences, 0.0).pvalue)
    return Comparison(mean, mean - half, mean + half, p_value, "seeds")


def _no_spread(difference: float, test: str) -> Comparison:
    """Seeds whose values do not vary (the same runs, or a system that trains nothing): no
    spread to test against. The t-test's limit as the spread shrinks: p = 0 for a non-zero
    difference (1 for none), the interval the difference itself (see the module doc).
    Tested for exact equality, so that rounding never hands scipy a spread of 1e-17."""
    return Comparison(difference, difference, difference, 1.0 if difference == 0 else 0.0, test)


def compare_runs(a: Sequence[np.ndarray], b: Sequence[np.ndarray]) -> Comparison:
    """Compare two systems from per-query values of their runs, seeds *not* paired (``a``
    and ``b`` may hold different seeds, and different numbers of them): Student's
    two-sample t-test and t-interval on the runs' means, the variance pooled over both
    sides' seeds. Under the null hypothesis that both sides' runs are draws of one system
    (normal run means), it is exact with ``n_a + n_b - 2`` degrees of freedom: 2 at two
    seeds each, where the paired test (:func:`compare_seeds`) has 1 (critical t 4.30
    against 12.71)."""
    from scipy import stats

    if min(len(a), len(b)) < 2:
        raise BenchError(f"a comparison of runs needs two or more seeds on each side, got {len(a)} and {len(b)}")
    means_a, means_b = (np.array([np.mean(run) for run in side]) for side in (a, b))
    difference = float(means_a.mean() - means_b.mean())
    if (means_a == means_a[0]).all() and (means_b == means_b[0]).all():
        return _no_spread(difference, "runs")
    freedom = len(means_a) + len(means_b) - 2
    pooled = (((means_a - means_a.mean()) ** 2).sum() + ((means_b - means_b.mean()) ** 2).sum()) / freedom
    error = float(np.sqrt(pooled * (1 / len(means_a) + 1 / len(means_b))))
    half = float(stats.t.ppf((1 + LEVEL) / 2, freedom)) * error
    p_value = float(2 * stats.t.sf(abs(difference) / error, freedom))
    return Comparison(difference, difference - half, difference + half, p_value, "runs")


def compare_systems(a: Sequence[np.ndarray], b: Sequence[np.ndarray], clips: np.ndarray,
                    resamples: int = RESAMPLES, seed: int = 0) -> tuple[Comparison, Comparison]:
    """Two systems from their runs (two or more seeds each, paired or not) on the same
    queries: :func:`compare_runs` (training randomness, and each run's own luck on the
    queries) and :func:`compare` of the per-query values averaged over each side's seeds
    (the sampling of the test clips, which the first cannot see when the runs do not vary
    with the seed). They are told apart at level ``alpha`` only when both p-values are
    below it: an intersection-union test, whose false-positive rate is at most ``alpha``
    whichever of the two null hypotheses holds."""
    runs = compare_runs(a, b)
    average_a, average_b = (np.mean(np.stack([np.asarray(run, dtype=np.float64) for run in side]), axis=0)
                            for side in (a, b))
    return runs, compare(average_a, average_b, clips, resamples, seed)
