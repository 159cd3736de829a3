"""The training loop: fixed-length epochs, per-epoch validation, best-k checkpoints, resume.

Batches of each epoch are drawn from a generator seeded by ``(seed, epoch)``, so an
interrupted run that resumes from ``last.pt`` sees exactly the batches it would have seen.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from benchmark.api import LossInput
from benchmark.checkpoints import Best, Ranked
from benchmark.distributed import barrier, local_slice
from benchmark.errors import BenchError
from benchmark.io import atomic_path, stable_hash, write_json
from benchmark.model import ClipInputs, RetrievalModel
from benchmark.progress import Progress

if TYPE_CHECKING:
    from benchmark.context import RunContext


def batch_accuracy(similarity: torch.Tensor) -> tuple[float, float]:
    """Within-batch ranking accuracies for one ``[B, B]`` clip-level similarity matrix
    (``s_ij``: audio ``i``, captions of clip ``j``).

    m1 (text→audio) = share of clips ``j`` whose captions score their own audio highest
    among the batch's audio (``s_jj = max_i s_ij``); m2 (audio→text) = share of audio ``i``
    whose own captions score highest among the batch's captions (``s_ii = max_j s_ij``).
    The report's formulas name these the other way round; we follow the issue tracker's
    naming (m1 = text→audio).
    """
    diagonal = similarity.diagonal()
    m1 = (diagonal >= similarity.max(dim=0).values).float().mean().item()
    m2 = (diagonal >= similarity.max(dim=1).values).float().mean().item()
    return m1, m2


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The torch seed (dropout masks) of one epoch on one rank. A single process, like rank
    0, keeps ``seed * 100_003 + epoch``; any other rank gets its own stream from ``(seed,
    epoch, rank)``, so the slices of a global batch do not share rank 0's masks."""
    if rank == 0:
        return seed * 100_003 + epoch
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1, np.uint64)[0])


@dataclass
class Selected:
    """The checkpoint the evaluation uses and why."""

    path: Path
    epoch: int
    monitor: str
    value: float


@dataclass(frozen=True)
class Stage:
    """What one training stage trains on, for how long, and where it keeps its checkpoints."""

    train: ClipInputs
    validation: ClipInputs
    state_dir: Path
    epochs: int


@dataclass
class TrainState:
    best: Best  # the checkpoints kept
    epoch: int = 0  # epochs completed
    history: list[dict[str, float]] = field(default_factory=list)


class Trainer:
    """Trains ``model`` under ``loss`` for one :class:`Stage`, with the system ``config``'s
    batch size, optimiser, schedule and checkpoint rules, on the run's device and ranks."""

    def __init__(self, model: RetrievalModel, loss: nn.Module, config: dict[str, Any], stage: Stage, ctx: RunContext) -> None:
        device, context, train, validation = ctx.device, ctx.dist, stage.train, stage.validation
        self.model = model.to(device)
        self.context = context
        self.loss = loss.to(device)
        self.config = config
        self.train_data = train
        self.val_data = validation
        self.run_dir = stage.state_dir
        self.device = device
        self.seed = ctx.seed
        self.epochs = stage.epochs
        # The global batch; under torchrun each rank embeds batch_size / world_size of it.
        self.batch_size = min(int(config["batch_size"]), len(train) - len(train) % context.world_size)
        if self.batch_size < 2:
            raise BenchError(f"{len(train)} training clip(s) on {context.world_size} rank(s): a batch needs two clips")
        self.local = local_slice(context, self.batch_size)
        for role, data in (("training", train), ("validation", validation)):
            if not data.caption_counts.all():
                clip = int(np.flatnonzero(data.caption_counts == 0)[0])
                raise BenchError(f"clip {clip} of the {role} split has no caption; every clip needs one")
        optimiser = {k: v for k, v in config["optimizer"].items() if k != "name" and v is not None}
        parameters = [p for p in list(self.model.parameters()) + list(self.loss.parameters()) if p.requires_grad]
        self.optimiser = torch.optim.AdamW(parameters, **optimiser)
        self.autocast = device.type == "cuda" and bool(config.get("mixed_precision", True))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.autocast)
        # Under torchrun, gradients are averaged over ranks by DistributedDataParallel. Some
        # parameters never get a gradient (the caption encoder's unused BERT pooler, say),
        # which DDP must be told to expect.
        self.forward = self.model
        if context.distributed:
            from torch.nn.parallel import DistributedDataParallel

            self.forward = DistributedDataParallel(
                self.model, device_ids=[device] if device.type == "cuda" else None, find_unused_parameters=True
            )
        self.checkpoints = self.config["checkpoint"]
        #: What the loss derived from the training data (:func:`benchmark.stages.loss_evidence`,
        #: set by :func:`benchmark.stages.train`); None for a loss that reports nothing.
        self.loss_evidence: dict[str, Any] | None = None
        self.fingerprint = stable_hash(
            {"config": {k: v for k, v in config.items() if k != "description"}, "epochs": self.epochs, "n": len(train)}
        )

    # -- one step ----------------------------------------------------------------------
    def _batch(self, data: ClipInputs, indices: np.ndarray) -> tuple[Any, Any]:
        """The model's inputs for ``indices``: padded expert frames and every caption, on the device."""
        return data.audio_batch(indices, self.device), data.text_batch(indices, self.device)

    def training_loss(self, batch: tuple[Any, Any], indices: np.ndarray) -> torch.Tensor:
        """The loss of one global batch ``indices`` (this rank's ``batch`` holds its slice of it)."""
        return self.loss(self._inputs(batch, indices, "train"))

    def _inputs(self, batch: tuple[Any, Any], indices: np.ndarray, split: str) -> LossInput:
        """What the loss sees of ``batch``, the clips ``indices`` of ``split``: similarities to
        each clip's own captions, padded to the most of any clip in the batch, and their mask.
        In training under torchrun, over the global batch."""
        train = split == "train"
        layout = (self.train_data if train else self.val_data).layout(indices)
        with torch.autocast("cuda", dtype=torch.float16) if self.autocast else contextlib.nullcontext():
            if train and self.context.distributed:
                sim = self.forward(*batch, gather=True, rows=layout.rank_rows(self.context.world_size))
            else:
                sim = self.model(*batch)
        sim, mask = layout.per_clip(sim.float())
        return LossInput(sim, torch.as_tensor(indices, device=self.device), split, mask)

    # -- validation --------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        self.model.eval()
        self.loss.eval()
        n = len(self.val_data)
        size = min(self.batch_size, n)
        totals = {"val_loss": 0.0, "m1": 0.0, "m2": 0.0}
        count = 0
        for start in range(0, n, size):
            indices = np.arange(start, min(start + size, n))
            if len(indices) < 2:
                break
            inputs = self._inputs(self._batch(self.val_data, indices), indices, "validation")
            m1, m2 = batch_accuracy(inputs.clip_similarity())
            for key, value in (("val_loss", self.loss(inputs).item()), ("m1", m1), ("m2", m2)):
                totals[key] += value * len(indices)
            count += len(indices)
        return {key: value / count for key, value in totals.items()}

    # -- checkpoints -------------------------------------------------------------------
    def _trainable_state(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "loss": self.loss.state_dict()}

    def _save(self, path: Path, payload: dict[str, Any]) -> None:
        if not self.context.main:  # one writer; every rank holds the same state
            return
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    def _load(self, path: Path) -> dict[str, Any]:
        try:
            return torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # noqa: BLE001 - truncated or foreign files
            from benchmark.weights import load_failure

            raise BenchError(f"cannot load checkpoint {path} ({load_failure(exc)}); delete it to start over") from None

    def _epoch_path(self, epoch: int) -> Path:
        return self.run_dir / f"epoch-{epoch:04d}.pt"

    def _update_best(self, state: TrainState, epoch: int, metrics: dict[str, float]) -> None:
        """Save this epoch if it is among the best of a monitor and delete the checkpoints it
        displaced (only those: other files in the run directory are not bench's)."""
        dropped = state.best.add(epoch, metrics)
        if epoch in state.best.kept():
            self._save(self._epoch_path(epoch), {"epoch": epoch, "metrics": metrics, **self._trainable_state()})
        for displaced in dropped if self.context.main else ():
            self._epoch_path(displaced).unlink(missing_ok=True)

    def _best(self, ranked: dict[str, Ranked] | None = None) -> Best:
        return Best(self.checkpoints["monitor"], int(self.checkpoints["keep"]), ranked or {})

    def _resume(self) -> TrainState:
        last = self.run_dir / "last.pt"
        if not last.is_file():
            return TrainState(self._best())
        saved = self._load(last)
        if saved.get("fingerprint") != self.fingerprint:
            raise BenchError(
                f"{self.run_dir} holds an unfinished run of a different configuration; "
                "pass --force to discard it or choose another --output"
            )
        self.model.load_state_dict(saved["model"])
        self.loss.load_state_dict(saved["loss"])
        self.optimiser.load_state_dict(saved["optimizer"])
        if saved.get("scaler"):  # absent from older files; empty when saved without mixed precision
            self.scaler.load_state_dict(saved["scaler"])
        ranked = {m: [(float(v), int(e)) for v, e in entries] for m, entries in saved["best"].items()}
        return TrainState(self._best(ranked), int(saved["epoch"]), list(saved["history"]))

    # -- the loop ----------------------------------------------------------------------
    def fit(self) -> Selected:
        """Train for the configured epochs (resuming if possible); return the selected checkpoint."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        state = self._resume()
        self.resumed_from = state.epoch  # epochs already done by an interrupted run
        for epoch in range(state.epoch + 1, self.epochs + 1) if self.context.main else ():
            self._epoch_path(epoch).unlink(missing_ok=True)  # saved by the interrupted run after its last.pt
        epochs = self.epochs
        steps = int(self.config["schedule"]["steps_per_epoch"])
        n = len(self.train_data)
        quiet = not self.context.main  # one progress report, rank 0's
        with Progress(epochs, "training", unit="epoch", initial=state.epoch, disable=quiet) as bar:
            for epoch in range(state.epoch + 1, epochs + 1):
                rng = np.random.default_rng([self.seed, epoch])
                torch.manual_seed(epoch_seed(self.seed, epoch, self.context.rank))
                self.model.train()
                self.loss.train()
                train_loss = waiting = 0.0
                started = time.perf_counter()
                for step in range(steps):
                    tick = time.perf_counter()
                    indices = rng.choice(n, size=self.batch_size, replace=False, p=self.train_data.sampling_weights)
                    batch = self._batch(self.train_data, indices[self.local])
                    waiting += time.perf_counter() - tick
                    loss = self.training_loss(batch, indices)
                    if not math.isfinite(loss.item()):
                        raise BenchError(
                            f"loss became {loss.item()} at epoch {epoch}, step {step + 1}; stopped. "
                            f"The last good checkpoint is kept in {self.run_dir}"
                        )
                    self.optimiser.zero_grad(set_to_none=True)
                    self.scaler.scale(loss).backward()
                    self.scaler.step(self.optimiser)
                    self.scaler.update()
                    train_loss += loss.item() / steps
                # Share of the training steps spent assembling batches (the data loader).
                data_share = waiting / max(time.perf_counter() - started, 1e-9)
                metrics = {"epoch": epoch, "train_loss": train_loss, **self.validate(), "data_share": data_share}
                state.history.append(metrics)
                state.epoch = epoch
                self._update_best(state, epoch, metrics)
                self._save(
                    self.run_dir / "last.pt",
                    {
                        "epoch": epoch,
                        "fingerprint": self.fingerprint,
                        "history": state.history,
                        "best": {m: [list(ve) for ve in ranked] for m, ranked in state.best.ranked.items()},
                        "optimizer": self.optimiser.state_dict(),
                        "scaler": self.scaler.state_dict(),  # the loss scale mixed precision reached
                        **self._trainable_state(),
                    },
                )
                if self.context.main:
                    write_json(self.run_dir / "history.json", state.history)
                bar.set_postfix({k: f"{v:.3f}" for k, v in metrics.items() if k != "epoch"})
                bar.update()
        self.history = state.history
        select = self.checkpoints["select"]  # one of the monitors (benchmark.settings)
        value, epoch = state.best.selected(select)
        selected = Selected(self._epoch_path(epoch), epoch, select, value)
        barrier()  # rank 0 has written the selected checkpoint
        saved = self._load(selected.path)
        self.model.load_state_dict(saved["model"])
        self.loss.load_state_dict(saved["loss"])
        return selected
