"""The CIDEr relaxation at scale: memory, time per step and percentiles, blocks vs the full matrix.

    python benchmarks/relax_scaling.py            # all phases, each in its own process
    python benchmarks/relax_scaling.py memory     # one phase: memory | steps | percentiles
    python benchmarks/relax_scaling.py memory 200000   # the memory phase at another size

Synthetic captions: 5 per clip of 7-13 words, half from 8 clip "topic" words and half
from a Zipf(1.1) vocabulary of 3,000 words. Phases:

- memory: the loss's CIDEr state for 50,000 clips (per-caption vectors): peak traced
  allocation (tracemalloc) and peak RSS above the baseline while building it and during a
  B = 512 step (also the time and peak RSS of an untraced build first; the later peak RSS
  includes tracemalloc's own tables); today's full matrix would hold n² float32 (estimated,
  not run).
- steps: 5,000 clips, today's design (full matrix, then ``matrix[index][:, index]``) against
  a block per step, side by side: memory and time per step at B = 512, and equal values.
- percentiles: 10,000 clips, exact (all 49,995,000 pairs) against sampled (2,649,159
  pairs, the 50,000-clip path), and the sampled estimate's rank error; then the sampled
  estimate at 50,000 clips.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np

from bench_plugins.losses.cider_pairs import ClipPairs
from bench_plugins.losses.pair_quantiles import DELTA, EPSILON, exact, sampled

QS = [80, 90, 99]


def zipf_captions(n: int, vocabulary: int = 3000, per_clip: int = 5, words: int = 10, seed: int = 0) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    names = [f"w{i}" for i in range(vocabulary)]
    p = 1 / np.arange(1, vocabulary + 1) ** 1.1
    p /= p.sum()
    out = []
    for _ in range(n):
        topic = rng.choice(vocabulary, 8, p=p)
        clip = []
        for _ in range(per_clip):
            length = int(rng.integers(words - 3, words + 4))
            ids = np.where(rng.random(length) < 0.5, rng.choice(topic, length), rng.choice(vocabulary, length, p=p))
            clip.append(" ".join(names[i] for i in ids))
        out.append(clip)
    return out


def rss_mb() -> float:
    """Peak resident set size of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_times(function, indices) -> float:
    start = time.perf_counter()
    for index in indices:
        function(index)
    return (time.perf_counter() - start) / len(indices)


def memory(n: int = 50_000, batch: int = 512) -> dict:
    captions = zipf_captions(n)
    baseline = rss_mb()
    start = time.perf_counter()
    ClipPairs.from_captions(captions)  # untraced: the build's time and true RSS peak
    build_s = time.perf_counter() - start
    build_rss = rss_mb() - baseline
    tracemalloc.start()
    pairs = ClipPairs.from_captions(captions)
    build_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    index = np.random.default_rng(1).choice(n, batch, replace=False)
    pairs.block(index)
    step_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"clips": n, "held_mb": pairs.nbytes() / 1e6, "build_s": build_s,
            "build_peak_rss_above_baseline_mb": build_rss, "build_peak_traced_mb": build_peak / 1e6, "step_peak_traced_mb": step_peak / 1e6,
            "peak_rss_above_baseline_mb": rss_mb() - baseline, "full_matrix_estimate_mb": n * n * 4 / 1e6}


def steps(n: int = 5_000, batch: int = 512, repeats: int = 20) -> dict:
    captions = zipf_captions(n, seed=5)
    rng = np.random.default_rng(2)
    indices = [rng.choice(n, batch, replace=False) for _ in range(repeats)]
    import torch

    baseline = rss_mb()
    tracemalloc.start()
    pairs = ClipPairs.from_captions(captions)
    new_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    matrix = torch.from_numpy(pairs.matrix())  # today's buffer (computed tile by tile here)
    old_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    equal = max(float(np.abs(pairs.block(index) - matrix[index][:, index].numpy()).max()) for index in indices[:3])
    old = step_times(lambda index: matrix[torch.from_numpy(index)][:, torch.from_numpy(index)], indices)
    new = step_times(lambda index: torch.from_numpy(pairs.block(index)), indices)
    return {"clips": n, "batch": batch, "new_held_mb": pairs.nbytes() / 1e6, "new_build_peak_traced_mb": new_peak / 1e6,
            "old_matrix_mb": matrix.numel() * 4 / 1e6, "old_build_peak_traced_mb": old_peak / 1e6,
            "peak_rss_above_baseline_mb": rss_mb() - baseline, "old_step_ms": old * 1e3, "new_step_ms": new * 1e3,
            "ratio": new / old, "max_abs_difference": equal}


def rank_error(sorted_values: np.ndarray, value: float, q: float) -> float:
    """How far (percentile points) ``value`` is from being a ``q``-th percentile of the values."""
    below = np.searchsorted(sorted_values, value, side="left") / len(sorted_values)
    at_or_below = np.searchsorted(sorted_values, value, side="right") / len(sorted_values)
    return 100 * max(0.0, below - q / 100, q / 100 - at_or_below)


def percentiles(n: int = 10_000, large: int = 50_000) -> dict:
    pairs = ClipPairs.from_captions(zipf_captions(n, seed=9))
    start = time.perf_counter()
    truth = exact(pairs, QS)
    exact_s = time.perf_counter() - start
    start = time.perf_counter()
    estimate = sampled(pairs, QS)
    sampled_s = time.perf_counter() - start
    values = np.sort(pairs.matrix()[np.triu_indices(n, k=1)])  # for the rank errors only
    errors = [rank_error(values, v, q) for v, q in zip(estimate.values, QS)]
    del values
    big = ClipPairs.from_captions(zipf_captions(large))
    start = time.perf_counter()
    at_large = sampled(big, QS)
    large_s = time.perf_counter() - start
    return {"clips": n, "exact": truth.values, "exact_s": exact_s, "sampled": estimate.values, "sampled_s": sampled_s,
            "sampled_pairs": estimate.pairs, "bound_points": 100 * EPSILON, "confidence": 1 - DELTA,
            "rank_error_points": errors, "value_error": [s - e for s, e in zip(estimate.values, truth.values)],
            "large_clips": large, "large_sampled": at_large.values, "large_sampled_s": large_s}


PHASES = {"memory": memory, "steps": steps, "percentiles": percentiles}

if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps({sys.argv[1]: PHASES[sys.argv[1]](*map(int, sys.argv[2:]))}, indent=1))
    else:
        for phase in PHASES:
            subprocess.run([sys.executable, __file__, phase], check=True)
