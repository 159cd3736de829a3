"""Figures of stored runs, drawn from their per-query records alone (no model, no dataset):
R@k curves of several runs on one axis."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark.errors import BenchError
from benchmark.rescoring import Stored

#: The ks of a recall curve.
KS = np.arange(1, 51)


def recall_curve(stored: Stored, ks: np.ndarray = KS) -> np.ndarray:
    """Text-to-audio R@k of one run for every k in ``ks`` (own clip, ties pessimistic)."""
    rank = stored.queries.own_rank
    return (rank[None, :] <= ks[:, None]).mean(axis=1)


def plot_recall(runs: Sequence[Stored], output: Path) -> None:
    """R@k for k = 1…50 of every run in ``runs``, one line each, into the PNG ``output``."""
    try:
        import matplotlib
    except ImportError:
        raise BenchError("bench plot recall needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5), dpi=120)
    colours: dict[tuple[str, str], int] = {}  # one colour per system and dataset, a line style per seed of it
    drawn: Counter[tuple[str, str]] = Counter()
    for run in runs:
        system = (run.result.system, run.result.dataset)
        colour, style = colours.setdefault(system, len(colours)), ("-", "--", ":", "-.")[drawn[system] % 4]
        drawn[system] += 1
        axis.plot(KS, recall_curve(run), color=f"C{colour % 10}", linestyle=style,
                  label=f"{run.result.system}, seed {run.result.seed} ({run.result.dataset})")
    axis.set(xlabel="k", ylabel="text-to-audio R@k", ylim=(0, 1), xlim=(1, KS[-1]))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    from benchmark.io import atomic_path

    with atomic_path(output) as tmp:
        figure.savefig(tmp)
    plt.close(figure)
