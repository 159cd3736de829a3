"""Best-k checkpoint selection: which epochs to keep for each validation metric, and which
one the evaluation uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from benchmark.settings import MONITORS

Ranked = list[tuple[float, int]]  # (metric value, epoch), best first


@dataclass
class Best:
    """The ``keep`` best epochs of each monitored metric, best first; of two epochs with the
    same value the earlier one ranks first, so selection never depends on ties."""

    monitors: Iterable[str]
    keep: int
    ranked: dict[str, Ranked] = field(default_factory=dict)

    def add(self, epoch: int, metrics: Mapping[str, float]) -> set[int]:
        """Rank ``epoch`` by each monitor; return the epochs it displaced from every list
        (their checkpoints can go)."""
        before = self.kept()
        for monitor in self.monitors:
            lower = MONITORS[monitor] == "min"
            entries = [*self.ranked.get(monitor, []), (float(metrics[monitor]), epoch)]
            self.ranked[monitor] = sorted(entries, key=lambda ve: (ve[0] if lower else -ve[0], ve[1]))[: self.keep]
        return before - self.kept()

    def kept(self) -> set[int]:
        """Every epoch among the best of some monitor."""
        return {epoch for ranked in self.ranked.values() for _, epoch in ranked}

    def selected(self, monitor: str) -> tuple[float, int]:
        """The best (value, epoch) by ``monitor``: the checkpoint the evaluation uses."""
        return self.ranked[monitor][0]
