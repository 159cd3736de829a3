"""How the paired tests behave on real runs (issue 17's calibration target).

    python benchmarks/permutation_calibration.py [SEEDS] [OUTPUT]

Trains the ``ranking`` system on the synthetic dataset (logmel expert, 1,000 test queries)
with SEEDS seeds (default 12), and a deliberately weakened copy of it (two epochs instead
of six) with the same seeds, then compares per-query mAP@10 under ``dcase2022``:

- one seed each, query by query (``compare``): every pair of two seeds of the *same*
  system, the share with p < 0.05 (the false-positive rate if one asks about systems);
- three seeds each, paired by seed (``compare_seeds``): 200 random disjoint splits of the
  seeds of the same system into two "systems" of three, the share with p < 0.05 (should be
  near 5%); and the power against the weakened system on 200 random triples of seeds.

Prints one JSON line. About 5 minutes on a quiet 2-core CPU.
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
from benchmark.uncertainty import compare, compare_seeds

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
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    output = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("results-calibration")
    full = {s: train(s, 6, output) for s in range(seeds)}
    weak = {s: train(s, 2, output) for s in range(seeds)}
    by_query = [compare(full[a][0], full[b][0], full[a][1], seed=a * 100 + b).p_value
                for a, b in itertools.combinations(range(seeds), 2)]
    rng = np.random.default_rng(0)
    splits = [rng.permutation(seeds)[:6] for _ in range(200)]
    by_seeds = [compare_seeds([full[s][0] for s in split[:3]], [full[s][0] for s in split[3:]]).p_value
                for split in splits]
    power = [compare_seeds([full[s][0] for s in split[:3]], [weak[s][0] for s in split[:3]]) for split in splits]
    print(json.dumps({
        "seeds": seeds, "queries": int(len(full[0][0])),
        "query_level_false_positive_rate": float(np.mean(np.array(by_query) < 0.05)), "seed_pairs": len(by_query),
        "seed_level_false_positive_rate": float(np.mean(np.array(by_seeds) < 0.05)), "splits": len(splits),
        "seed_level_power": float(np.mean([c.p_value < 0.05 for c in power])),
        "mean_difference_full_minus_weak": float(np.mean([c.difference for c in power])),
        "map10_full": float(np.mean([v.mean() for v, _ in full.values()])),
        "map10_weak": float(np.mean([v.mean() for v, _ in weak.values()])),
    }))


if __name__ == "__main__":
    main()
