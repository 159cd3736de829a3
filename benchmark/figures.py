"""Figures of stored runs, drawn from their per-query records alone (no model, no dataset):
R@k curves of several runs on one axis."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmark.errors import BenchError
from benchmark.plan import run_label
from benchmark.rescoring import Stored

#: The ks of a recall curve.
KS = np.arange(1, 51)


def recall_curve(stored: Stored, ks: np.ndarray = KS) -> np.ndarray:
    """Text-to-audio R@k of one run for every k in ``ks`` (own clip, ties pessimistic)."""
    rank = stored.queries.own_rank
    return (rank[None, :] <= ks[:, None]).mean(axis=1)


@dataclass(frozen=True)
class Curve:
    """One run's line in a recall figure."""

    label: str  # the system with its --set overrides, the seed and the dataset
    colour: str  # one per system (overrides included) and dataset
    style: str  # one per seed of it
    recall: np.ndarray


def curves(runs: Sequence[Stored]) -> list[Curve]:
    """The lines of a recall figure of ``runs``: a run with ``--set`` overrides is named with
    them and drawn in a colour of its own, since it is another system than the one registered."""
    colours: dict[tuple[str, str], int] = {}
    drawn: Counter[tuple[str, str]] = Counter()
    out = []
    for run in runs:
        system = (run_label(run.result.system, run.result.overrides), run.result.dataset)
        colour, style = colours.setdefault(system, len(colours)), ("-", "--", ":", "-.")[drawn[system] % 4]
        drawn[system] += 1
        out.append(Curve(f"{system[0]}, seed {run.result.seed} ({run.result.dataset})", f"C{colour % 10}", style,
                         recall_curve(run)))
    return out


def plot_recall(runs: Sequence[Stored], output: Path) -> None:
    """R@k for k = 1…50 of every run in ``runs``, one line each (:func:`curves`), into the PNG ``output``."""
    try:
        import matplotlib
    except ImportError:
        raise BenchError("bench plot recall needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5), dpi=120)
    for curve in curves(runs):
        axis.plot(KS, curve.recall, color=curve.colour, linestyle=curve.style, label=curve.label)
    axis.set(xlabel="k", ylabel="text-to-audio R@k", ylim=(0, 1), xlim=(1, KS[-1]))
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    from benchmark.io import atomic_path

    with atomic_path(output) as tmp:
        figure.savefig(tmp)
    plt.close(figure)
