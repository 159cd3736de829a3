"""How the paired tests behave on real runs (issue 17's calibration target), and the
leaderboard's "≈ best" rule.

    python benchmarks/permutation_calibration.py [SEEDS] [OUTPUT]

Trains the ``ranking`` system on the synthetic dataset (logmel expert, 1,000 test queries
of 200 clips) with SEEDS seeds (default 12), and two deliberately weakened copies of it
(two and four epochs instead of six) with the same seeds, then compares per-query mAP@10
under ``dcase2022``:

- one seed each, clip by clip (``compare``): every pair of two seeds of the *same*
  system, the share with p < 0.05 (the false-positive rate if one asks about systems);
- three seeds each, paired by seed (``compare_seeds``): 200 random disjoint splits of the
  seeds of the same system into two "systems" of three, the share with p < 0.05 (should be
  near 5%); and the power against the two-epoch system on 200 random triples of seeds;
- the "≈ best" rule (``compare_systems``: told apart when both the runs' two-sample t-test
  and the clip-level test of the seed-averaged values give p < 0.05), with two and with
  three seeds each: its false-positive rate on 2,000 random disjoint splits of the full
  system's seeds, and its power against each weakened system on 2,000 random draws of
  disjoint seeds (distinct systems share no seeds); each of its two tests alone beside it.
  Then, at two seeds, the paired t-test over the common seeds that it replaces
  (``compare_seeds``, 1 degree of freedom) and "both seed pairs' clip-level tests reject".
  The splits reuse SEEDS runs, so a rate is less sure than a binomial of 2,000 trials.

Prints one JSON line. About 15 minutes on a quiet 2-core CPU at 12 seeds, 30 at 20 (the
runs are kept under OUTPUT: a second call only compares, in minutes).
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
from benchmark.uncertainty import compare, compare_seeds, compare_systems

DATA = {"n_development": 400, "n_validation": 100, "n_evaluation": 200, "min_seconds": 0.5, "max_seconds": 1.0}
SETTINGS = ["experts=[{name: logmel, frame_rate: 2.0}]", "batch_size=64", "optimizer.lr=0.001"]


def train(seed: int, epochs: int, output: Path) -> tuple[np.ndarray, np.ndarray]:
    """Per-query mAP@10 of one run (trained once, then read back) and each query's clip."""
    options = RunOptions(system="ranking", dataset="synthetic", seed=seed, dataset_options=DATA, device="cpu",
                         overrides=[*SETTINGS, f"schedule.epochs={epochs}"], output=output / f"epochs{epochs}")
    path, _ = run(options, log=lambda message: None)
    stored = load(path)
    return values(stored.queries.ranks, convention(DEFAULT))["mAP@10"], stored.queries.clip_of


#: Random splits of the seeds for each figure of the "≈ best" rule.
TRIALS = 2000


def rule(runs: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]], seeds: int, k: int) -> dict[str, float]:
    """The "≈ best" rule at ``k`` seeds each: how often it tells apart two "systems" of
    disjoint seeds of the full system (its false-positive rate), and the full system and each
    weakened one (its power); beside it, each of its two tests alone."""
    rng = np.random.default_rng(k)
    splits = [rng.permutation(seeds)[: 2 * k] for _ in range(TRIALS)]
    clips = runs["full"][0][1]
    out: dict[str, float] = {f"rule_{k}_seeds_trials": len(splits)}
    for name in ("full", "mid", "weak"):
        p_values = np.array([[c.p_value for c in compare_systems([runs["full"][s][0] for s in split[:k]],
                                                                 [runs[name][s][0] for s in split[k:]], clips)]
                             for split in splits])
        what = "false_positive_rate" if name == "full" else f"power_vs_{name}"
        out[f"rule_{k}_seeds_{what}"] = float(np.mean(p_values.max(axis=1) < 0.05))
        out[f"runs_test_{k}_seeds_{what}"] = float(np.mean(p_values[:, 0] < 0.05))
        out[f"clip_test_{k}_seeds_{what}"] = float(np.mean(p_values[:, 1] < 0.05))
    return out


def replaced(runs: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]], seeds: int) -> dict[str, float]:
    """At two seeds each, the rules "≈ best" does not use: the paired t-test over two common
    seeds (what it used; against a weakened system the seeds are the same, whose runs share
    their start and so favour it), and "both seed pairs' clip-level tests reject" (seeds
    disjoint); how often each tells the systems apart."""
    rng = np.random.default_rng(0)
    clips = runs["full"][0][1]
    out = {}
    for name in ("full", "mid", "weak"):
        pairs = [rng.permutation(seeds)[:4] for _ in range(TRIALS // 4)]
        same = (lambda s, t: runs["full"][t][0]) if name == "full" else (lambda s, t: runs[name][s][0])
        paired_t = [compare_seeds([runs["full"][s][0] for s in p[:2]], [same(s, t) for s, t in zip(p[:2], p[2:])])
                    for p in pairs]
        per_seed = [all(compare(runs["full"][s][0], runs[name][t][0], clips, seed=s).p_value < 0.05
                        for s, t in zip(p[:2], p[2:])) for p in pairs]
        what = "false_positive_rate" if name == "full" else f"power_vs_{name}"
        out[f"paired_t_2_seeds_{what}"] = float(np.mean([c.p_value < 0.05 for c in paired_t]))
        out[f"every_seed_clip_test_2_seeds_{what}"] = float(np.mean(per_seed))
    out["replaced_trials"] = TRIALS // 4
    return out


def main() -> None:
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    output = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("results-calibration")
    runs = {name: {s: train(s, epochs, output) for s in range(seeds)}
            for name, epochs in (("full", 6), ("mid", 4), ("weak", 2))}
    full, weak = runs["full"], runs["weak"]
    by_clip = [compare(full[a][0], full[b][0], full[a][1], seed=a * 100 + b).p_value
               for a, b in itertools.combinations(range(seeds), 2)]
    rng = np.random.default_rng(0)
    splits = [rng.permutation(seeds)[:6] for _ in range(200)]
    by_seeds = [compare_seeds([full[s][0] for s in split[:3]], [full[s][0] for s in split[3:]]).p_value
                for split in splits]
    power = [compare_seeds([full[s][0] for s in split[:3]], [weak[s][0] for s in split[:3]]) for split in splits]
    print(json.dumps({
        "seeds": seeds, "queries": int(len(full[0][0])), "clips": int(len(np.unique(full[0][1]))),
        "clip_level_false_positive_rate": float(np.mean(np.array(by_clip) < 0.05)), "seed_pairs": len(by_clip),
        "seed_level_false_positive_rate": float(np.mean(np.array(by_seeds) < 0.05)), "splits": len(splits),
        "seed_level_power": float(np.mean([c.p_value < 0.05 for c in power])),
        "mean_difference_full_minus_weak": float(np.mean([c.difference for c in power])),
        **{f"map10_{name}": float(np.mean([v.mean() for v, _ in r.values()])) for name, r in runs.items()},
        **{f"map10_seed_sd_{name}": float(np.std([v.mean() for v, _ in r.values()], ddof=1))
           for name, r in runs.items()},
        **rule(runs, seeds, 2), **rule(runs, seeds, 3), **replaced(runs, seeds),
    }))


if __name__ == "__main__":
    main()
