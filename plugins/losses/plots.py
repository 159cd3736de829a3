"""Figures for the losses: the CIDEr relax function over the data it is fitted to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from benchmark.api import atomic_path

from bench_plugins.losses.relax import CiderCache, relax


def report_relax() -> dict[str, list[float]]:
    """The report's relax function, as the reference system ``cider_relax`` sets it: its
    YAML is the one home of these numbers, which the loss reads from the configuration."""
    from importlib.resources import as_file, files

    from benchmark.api import load_system_file

    with as_file(files("bench_plugins.systems") / "cider_relax.yaml") as path:
        return dict(load_system_file(path)["loss"]["relax"])


def relax_curve(captions: list[list[str]], cache_dir: Path, settings: dict[str, list[float]]) -> dict[str, Any]:
    """What Figure 2 draws: CIDEr of every pair of distinct clips, the percentile thresholds
    of ``settings`` on them, and r(c) on a grid spanning both."""
    cache = CiderCache(cache_dir)
    matrix = cache.matrix(captions)
    thresholds = cache.estimate(captions, settings["percentiles"], matrix).values
    pairs = matrix[np.triu_indices(len(matrix), k=1)]
    grid = np.linspace(0.0, max(float(pairs.max()), thresholds[-1] * 1.2), 400)
    return {"pairs": pairs, "thresholds": thresholds, "grid": grid, "r": relax(grid, thresholds, settings["values"])}


def plot_relax(dataset: Any, output: Path, cache_dir: Path) -> None:
    """r(c) drawn over the histogram of CIDEr between distinct training clips (report, Figure 2)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = report_relax()
    curve = relax_curve([list(c) for c in dataset.split("train").captions], cache_dir, settings)
    pairs, thresholds = curve["pairs"], curve["thresholds"]
    figure, histogram_axis = plt.subplots(figsize=(8, 4.5), dpi=120)
    histogram_axis.hist(pairs, bins=120, color="#9db4d0", log=True)
    histogram_axis.set_xlabel("CIDEr-D between two distinct training clips (c_ij)")
    histogram_axis.set_ylabel("clip pairs (log scale)")
    relax_axis = histogram_axis.twinx()
    relax_axis.plot(curve["grid"], curve["r"], color="#c0392b", linewidth=2, label="r(c)")
    relax_axis.set_ylim(0, 1.05)
    relax_axis.set_ylabel("relax factor r(c)")
    for q, t in zip(settings["percentiles"], thresholds):
        relax_axis.axvline(t, color="#555555", linestyle="--", linewidth=1)
        relax_axis.annotate(f"c{q:g} = {t:.2f}", (t, 1.0), rotation=90, va="top", ha="right", fontsize=8)
    clips = len(dataset.split("train"))
    histogram_axis.set_title(f"CIDEr relaxation on {dataset.key} ({clips} training clips, {len(pairs)} pairs)")
    figure.tight_layout()
    with atomic_path(output) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
