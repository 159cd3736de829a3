"""A run as the user asked for it (:class:`RunOptions`, ``bench run``'s flags) and as
resolved (:class:`Plan`: configuration, dataset, result path)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from benchmark import paths

if TYPE_CHECKING:
    from benchmark.data import PreparedDataset


@dataclass
class RunOptions:
    """What the user asked for: ``bench run``'s flags."""

    system: str
    dataset: str
    seed: int = 0
    output: Path = paths.RESULTS
    device: str = "auto"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    expert_weights: str | None = None
    data_root: Path | None = None
    cache_root: Path | None = None
    force: bool = False


@dataclass(frozen=True)
class Plan:
    """A run's resolved configuration, its dataset (and pre-training datasets), and where its
    result and checkpoints go."""

    config: dict[str, Any]
    dataset: PreparedDataset
    result: Path
    state_dir: Path
    pretrain: tuple[PreparedDataset, ...] = ()

    def protocol_hint(self) -> str | None:
        """A one-line hint when the system names the protocol its source used (its
        ``protocol`` setting) and this run's dataset follows another: the run goes ahead,
        but its numbers are not the source's setting."""
        wanted, used = self.config.get("protocol"), self.dataset.plugin.protocol_name
        if wanted is None or wanted == used:
            return None
        return (f"system {self.config['name']!r} follows the {wanted!r} protocol of its source; this run uses "
                f"{used!r} (pass -D protocol={wanted} where the dataset has it, to run the source's setting)")


def system_dir(system: str, overrides: Sequence[str]) -> str:
    """The directory of a system's results under its dataset's: the system's name, then
    ``-set-`` and a short stable hash of its ``--set`` overrides (as parsed, in order) when
    there are any, so a run with overrides never takes the place of the system as registered,
    as a dataset with non-default options is ``<name>-<hash>``."""
    if not overrides:
        return system
    from benchmark.config import parse_overrides
    from benchmark.io import stable_hash

    return f"{system}-set-{stable_hash(parse_overrides(overrides), 8)}"


def run_label(system: str, overrides: Sequence[str]) -> str:
    """How a run is named to a reader (plot legends, ``bench compare``): the system and its
    ``--set`` overrides as given, e.g. ``ranking --set schedule.epochs=5``."""
    return " ".join([system, *(f"--set {override}" for override in overrides)])


#: What a run's log and a sweep's status line say when :func:`auto_fell_back`.
AUTO_FALLBACK = "--device auto found no CUDA device: running on the CPU, with the system's cpu_overrides (if any)"


def auto_fell_back(requested: str, device_type: str) -> bool:
    """True when ``--device auto`` found no CUDA device and the run goes to the CPU, where the
    system's ``cpu_overrides`` apply: said in the log and the result, never silently."""
    return requested == "auto" and device_type == "cpu"
