"""What every step of a run shares: one frozen object instead of values threaded through
each call."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from benchmark.distributed import Context

if TYPE_CHECKING:
    import torch

    from benchmark.plugins import PluginManager

#: Where a run's progress messages go (``print``, or nothing on ranks other than 0).
Log = Callable[[str], None]


@dataclass(frozen=True)
class RunContext:
    """The plugin manager, the device, the seed, where data and caches live, this process's
    place among the ranks, and where messages go."""

    manager: PluginManager
    device: torch.device
    seed: int
    data_root: Path
    cache_root: Path
    dist: Context
    log: Log
