"""The schema of the harness's own settings, checked when a configuration is resolved.

A wrong type or range (``schedule.steps_per_epoch=0``, ``checkpoint.select=m3``,
``batch_size=1``) is refused here, by ``bench show`` and before ``bench run`` prepares any
data, instead of surfacing as a crash (or a silently untrained model) after the work.
Plugin settings (a loss's ``margin``, say) are the plugins' to check: see
:func:`benchmark.plugins.PluginManager.check`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Mapping, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from benchmark.errors import BenchError, first_problem

#: Validation metrics tracked for checkpoint selection, and whether lower or higher is better.
MONITORS: dict[str, str] = {"val_loss": "min", "m1": "max", "m2": "max"}

Monitor = Literal["val_loss", "m1", "m2"]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class _Strict(BaseModel):
    # strict: YAML's `true` is not an epoch count and "5" is not a number; extra: a typo
    # such as `schedule.epoch` is refused rather than ignored.
    model_config = ConfigDict(strict=True, extra="forbid")


class Optimizer(_Strict):
    name: Literal["adamw"] = "adamw"  # the report's optimiser, the one the trainer builds
    lr: float = Field(gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: Optional[tuple[float, float]] = None
    eps: Optional[float] = Field(None, gt=0)
    amsgrad: Optional[bool] = None


class Schedule(_Strict):
    epochs: NonNegativeInt  # 0: zero-shot, the system is scored as its pretrained parts are
    steps_per_epoch: PositiveInt


class Checkpoint(_Strict):
    monitor: list[Monitor] = Field(min_length=1)
    select: Monitor
    keep: PositiveInt

    @model_validator(mode="after")
    def _select_is_monitored(self) -> "Checkpoint":
        if self.select not in self.monitor:
            raise ValueError(f"select {self.select!r} must be one of monitor {self.monitor}")
        return self


class Pretrain(_Strict):
    datasets: list[Union[str, dict[str, Any]]] = Field(min_length=1)
    epochs: PositiveInt


class Component(BaseModel):
    """A plugin and its settings: the settings are the plugin's to check."""

    model_config = ConfigDict(extra="allow")
    name: str


class Settings(_Strict):
    """Every key a system may set (see :data:`benchmark.config.DEFAULTS` and
    :data:`benchmark.config.OPTIONAL` for their meaning)."""

    name: str
    inherits: list[str]
    description: str
    experts: list[Component] = Field(min_length=1)
    head: Component
    fusion: Component
    text_encoder: Component
    loss: Optional[Component]  # None only for a zero-shot system (schedule.epochs 0)
    optimizer: Optimizer
    schedule: Schedule
    pretrain: Optional[Pretrain]
    # The dataset protocol the system's source trained under (e.g. the report's `report`):
    # optional, set only by systems that reproduce a paper; a run under another one says so.
    protocol: Optional[str] = None
    # Contrastive losses need a negative: at least two clips per batch.
    batch_size: int = Field(strict=True, ge=2)
    checkpoint: Checkpoint
    mixed_precision: bool
    cpu_overrides: dict[str, Any]
    cpu_overrides_applied: bool = False

    @model_validator(mode="after")
    def _a_trained_system_has_a_loss(self) -> "Settings":
        if self.loss is None and self.schedule.epochs > 0:
            raise ValueError("a system that trains (schedule.epochs > 0) needs a loss; schedule.epochs 0 is zero-shot")
        return self


def check(config: Mapping[str, Any]) -> None:
    """Raise a one-line :class:`BenchError` for the first setting of ``config`` that is
    out of type or range, naming the setting as ``--set`` would."""
    try:
        Settings.model_validate(dict(config))
    except ValidationError as exc:
        error, key, message = first_problem(exc)
        message = re.sub(r" or instance of \w+", "", message)
        if error["type"] == "extra_forbidden":
            model: Any = Settings
            for part in error["loc"][:-1]:
                model = model.model_fields[str(part)].annotation
                model = next((a for a in getattr(model, "__args__", ()) if isinstance(a, type)), model)
            message = f"unknown setting; known: {', '.join(model.model_fields)}"
        where = f"{key} = {error['input']!r}" if error["type"] != "missing" else key
        raise BenchError(
            f"system {config.get('name')!r}: {where}: {message} (fix it in the system file or with --set)"
        ) from None


def check_seed(seed: object) -> int:
    """A run's seed: a non-negative integer (numpy's generators refuse negative seeds)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise BenchError(f"--seed {seed!r}: expected a non-negative integer, e.g. 0")
    return seed
