"""Percentiles of ``c_ij`` over all pairs of distinct clips, exact or from sampled pairs.

The population is the ``P = n (n - 1) / 2`` unordered pairs ``i < j`` of a split's clips.

Exact (``n <= EXACT_LIMIT``): numpy's default ("linear") percentile of the ``P`` values,
computed without holding them: the clip matrix is visited tile by tile (upper triangle),
each percentile's two order statistics are found inside a bracket of values, and only the
values inside the bracket are kept (all of them up to ``HOLD`` pairs). The bracket comes
from a pilot sample of ``PILOT`` pairs, twice its DKW error wide; if it misses
(probability below 1e-9), the pass is repeated with a wider bracket, so the result is
always exact.

Sampled (larger splits): ``m`` pairs drawn uniformly with replacement from the ``P``
pairs with a seeded generator, and the sample's lower percentile (numpy's
"inverted_cdf": the smallest sampled value with at least ``q`` % of the sample at or
below it). Bound: by the Dvoretzky-Kiefer-Wolfowitz inequality with Massart's constant,
``P(sup_x |F_m(x) - F(x)| > eps) <= 2 exp(-2 m eps^2)`` for the empirical CDF ``F_m``
of ``m`` i.i.d. draws from the pairs' CDF ``F``, whatever ``F`` (ties included). When
``sup |F_m - F| <= eps``, every sampled ``q``-th percentile lies between the true
``(q - 100 eps)``-th and ``(q + 100 eps)``-th percentiles (lower quantiles,
``Q(p) = min{x : F(x) >= p}``), simultaneously for all ``q``. So
``m = ceil(ln(2 / delta) / (2 eps^2))`` gives that with probability at least
``1 - delta``; with ``EPSILON = 0.001`` (0.1 percentile points) and ``DELTA = 0.01``,
``m = 2,649,159`` pairs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from bench_plugins.losses.cider_pairs import ClipPairs

#: Largest split (clips) whose percentiles are computed over all pairs.
EXACT_LIMIT = 10_000
#: Rank error of sampled percentiles, as a fraction (0.001 = 0.1 percentile points) ...
EPSILON = 0.001
#: ... exceeded with probability at most this.
DELTA = 0.01
#: The seed of the sampled pairs.
SEED = 0
#: Pilot pairs for the exact path's brackets, and the probability that a bracket misses.
PILOT = 200_000
PILOT_DELTA = 1e-9
#: Up to this many pairs, the exact path keeps all values (16 MB) instead of bracketing.
HOLD = 4_000_000


@dataclass(frozen=True)
class PercentileEstimate:
    """Percentile values and how they were obtained."""

    values: list[float]
    method: str  # "exact": all pairs; "sampled": m sampled pairs
    pairs: int  # the pairs the values come from: all P, or the sample's m
    population: int  # P, the pairs of distinct clips
    rank_error: float = 0.0  # eps, in percentile points: 0 when exact
    confidence: float = 1.0  # 1 - delta
    seed: int | None = None

    def as_dict(self) -> dict:
        """The values and how they were obtained, as JSON values (the cache file, a result's
        ``loss_evidence``)."""
        return asdict(self)


def sample_size(epsilon: float, delta: float) -> int:
    """The ``m`` for which DKW bounds the rank error by ``epsilon`` with probability ``1 - delta``."""
    return math.ceil(math.log(2 / delta) / (2 * epsilon**2))


def dkw_epsilon(m: int, delta: float) -> float:
    """The rank error DKW guarantees for ``m`` draws with probability ``1 - delta``."""
    return math.sqrt(math.log(2 / delta) / (2 * m))


def sample_pairs(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``m`` pairs ``i < j`` drawn uniformly (with replacement) from the pairs of ``n`` clips."""
    rng = np.random.default_rng(seed)
    i, j = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    while len(i) < m:
        a, b = rng.integers(0, n, m - len(i)), rng.integers(0, n, m - len(i))
        keep = a != b
        i, j = np.concatenate([i, np.minimum(a, b)[keep]]), np.concatenate([j, np.maximum(a, b)[keep]])
    return i, j


def _virtual_indexes(count: int, qs: Sequence[float]) -> list[float]:
    """Where numpy's "linear" percentiles ``qs`` of ``count`` sorted values fall (ranks, fractional)."""
    return [float((count - 1) * q) for q in np.true_divide(np.asarray(qs, dtype=np.float64), 100)]


def _neighbours(count: int, virtual: float) -> tuple[int, int]:
    below = min(math.floor(virtual), count - 1)
    return below, min(below + 1, count - 1)


def linear_percentiles(count: int, qs: Sequence[float], value_at: Callable[[int], float]) -> list[float]:
    """numpy's "linear" percentiles of ``count`` sorted float32 values, given
    ``value_at(rank)``; the same arithmetic as ``np.percentile`` (the same result to the
    last bit)."""
    out = []
    for virtual in _virtual_indexes(count, qs):
        below, above = _neighbours(count, virtual)
        if virtual >= count - 1:
            out.append(float(value_at(count - 1)))
            continue
        a, b = np.float32(value_at(below)), np.float32(value_at(above))  # the values are float32
        gamma = np.float64(virtual - below)
        diff = b - a  # in float32, as numpy does
        out.append(float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma))
    return out


def _tiles(n: int, tile: int):
    for start in range(0, n, tile):
        a = np.arange(start, min(start + tile, n))
        for other in range(start, n, tile):
            b = np.arange(other, min(other + tile, n))
            yield a, b


def exact(pairs: ClipPairs, qs: Sequence[float], tile: int = 512) -> PercentileEstimate:
    """Percentiles over all pairs of distinct clips (see the module doc), memory O(tile² + bracket)."""
    n = len(pairs)
    population = n * (n - 1) // 2
    ranks = sorted({r for virtual in _virtual_indexes(population, qs) for r in _neighbours(population, virtual)})
    if population <= HOLD:  # all values fit: one bracket holding them all
        m, pilot, width = 1, np.zeros(1, np.float32), np.inf
    else:
        m = PILOT
        pilot = np.sort(pairs.pairs(*sample_pairs(n, m, SEED)))
        width = 2 * dkw_epsilon(m, PILOT_DELTA)
    found: dict[int, float] = {}
    while len(found) < len(ranks):
        todo = [r for r in ranks if r not in found]
        brackets = []
        for r in todo:
            p = r / max(population - 1, 1)
            low = -np.inf if p - width <= 0 else pilot[max(math.floor((p - width) * m) - 1, 0)]
            high = np.inf if p + width >= 1 else pilot[min(math.ceil((p + width) * m), m - 1)]
            brackets.append((np.float32(low), np.float32(high)))
        below, at_low, at_high = np.zeros(len(todo), np.int64), np.zeros(len(todo), np.int64), np.zeros(len(todo), np.int64)
        inside: list[list[np.ndarray]] = [[] for _ in todo]
        for a, b in _tiles(n, tile):
            values = pairs.block(a) if a[0] == b[0] else pairs.tile(a, b)
            values = values[np.triu_indices(len(a), k=1)] if a[0] == b[0] else values.ravel()
            for k, (low, high) in enumerate(brackets):
                below[k] += np.count_nonzero(values < low)
                at_low[k] += np.count_nonzero(values == low)
                if high != low:
                    at_high[k] += np.count_nonzero(values == high)
                inside[k].append(values[(values > low) & (values < high)])
        for k, r in enumerate(todo):
            low, high = brackets[k]
            middle = np.sort(np.concatenate(inside[k]))
            offset = r - below[k]
            if 0 <= offset < at_low[k]:
                found[r] = float(low)
            elif 0 <= offset - at_low[k] < len(middle):
                found[r] = float(middle[offset - at_low[k]])
            elif 0 <= offset - at_low[k] - len(middle) < at_high[k]:
                found[r] = float(high)
        width *= 4  # a bracket missed (probability < PILOT_DELTA): widen it and look again
    values = linear_percentiles(population, qs, found.__getitem__)
    return PercentileEstimate(values, "exact", population, population)


def sampled(pairs: ClipPairs, qs: Sequence[float], epsilon: float = EPSILON, delta: float = DELTA,
            seed: int = SEED) -> PercentileEstimate:
    """Percentiles from ``sample_size(epsilon, delta)`` sampled pairs (see the module doc)."""
    n = len(pairs)
    m = sample_size(epsilon, delta)
    values = pairs.pairs(*sample_pairs(n, m, seed))
    estimates = np.percentile(values, list(qs), method="inverted_cdf")
    return PercentileEstimate([float(v) for v in estimates], "sampled", m, n * (n - 1) // 2,
                              rank_error=100 * epsilon, confidence=1 - delta, seed=seed)


def estimate(pairs: ClipPairs, qs: Sequence[float]) -> PercentileEstimate:
    """Exact up to :data:`EXACT_LIMIT` clips, sampled beyond."""
    return exact(pairs, qs) if len(pairs) <= EXACT_LIMIT else sampled(pairs, qs)
