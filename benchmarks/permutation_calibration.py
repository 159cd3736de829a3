"""How the paired permutation test behaves on real runs (issue 17's calibration target).

    python benchmarks/permutation_calibration.py [SEEDS] [OUTPUT]

Trains the ``ranking`` system on the synthetic dataset (logmel expert, 1,000 test queries)
with SEEDS seeds (default 6), and a deliberately weakened copy of it (two epochs instead
of six) with the same seeds, then compares per-query mAP@10 under ``dcase2022``:

- false-positive rate: every pair of two seeds of the *same* system (no true difference),
  the share with p < 0.05; it should be near 5%;
- power: each seed of the system against the same seed of the weakened one, the share with
  p < 0.05, and the mean difference.

Prints one JSON line. About 20 minutes on a 2-core CPU.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np

from benchmark.conventions import DEFAULT, convention, values
from benchmark.plan import RunOptions
from benchmark.rescoring import load
from benchmark.runner import run
from benchmark.uncertainty import compare

DATA = {"n_development": 400, "n_validation": 100, "n_evaluation": 200, "min_seconds": 0.5, "max_seconds": 1.0}
SETTINGS = ["experts=[{name: logmel, frame_rate: 2.0}]", "batch_size=64", "optimizer.lr=0.001"]


def train(seed: int, epochs: int, output: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-query mAP@10 of one run (trained once, then read back) and each query's clip."""
    options = RunOptions(system="ranking", dataset="synthetic", seed=seed, dataset_options=DATA, device="cpu",
                         overrides=[*SETTINGS, f"schedule.epochs={epochs}"], output=output / f"epochs{epochs}")
    path, _ = run(options, log=lambda message: None)
    stored = load(path)
    return values(stored.queries.ranks, convention(DEFAULT))["mAP@10"], stored.queries.clip_of


def main() -> None:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    output = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("results-calibration")
    full = {s: train(s, 6, output) for s in range(seeds)}
    weak = {s: train(s, 2, output) for s in range(seeds)}
    null = [compare(full[a][0], full[b][0], full[a][1], seed=a * 100 + b).p_value
            for a, b in itertools.combinations(range(seeds), 2)]
    power = [compare(full[s][0], weak[s][0], full[s][1], seed=s) for s in range(seeds)]
    print(json.dumps({
        "seeds": seeds, "queries": int(len(full[0][0])),
        "false_positive_rate": float(np.mean(np.array(null) < 0.05)), "same_system_pairs": len(null),
        "power": float(np.mean([c.p_value < 0.05 for c in power])),
        "mean_difference_full_minus_weak": float(np.mean([c.difference for c in power])),
        "map10_full": float(np.mean([v.mean() for v, _ in full.values()])),
        "map10_weak": float(np.mean([v.mean() for v, _ in weak.values()])),
    }))


if __name__ == "__main__":
    main()
