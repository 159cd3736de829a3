"""Training stages: a loss prepared on the stage's data, a trainer, the checkpoint it
selects; pre-training is a stage on other datasets before the run's own."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.distributed import Context, barrier
from benchmark.errors import BenchError, naming

if TYPE_CHECKING:
    from benchmark.api import LossContext
    from benchmark.context import RunContext
    from benchmark.data import PreparedDataset, Split
    from benchmark.features import Features
    from benchmark.model import ClipInputs, RetrievalModel
    from benchmark.plan import Plan
    from benchmark.train import Selected, Stage, Trainer


def prepare(dataset: PreparedDataset, dist: Context) -> None:
    """Prepare a dataset once: rank 0 downloads and verifies while the other ranks wait."""
    if dist.main:
        dataset.prepare()
    barrier()


def loss_context(key: str, splits: dict[str, list[Split]], cache_root: Path) -> LossContext:
    """What a loss's ``prepare`` sees of the training and validation splits (each role's
    splits concatenated in order)."""
    from benchmark.api import LossContext

    roles = ("train", "validation")
    captions = {role: [list(c) for split in splits[role] for c in split.captions] for role in roles}
    clips = {role: [name for split in splits[role] for name in split.file_names] for role in roles}
    return LossContext(key, captions, cache_root, clips)


def loss_evidence(loss: Any) -> dict[str, Any] | None:
    """What ``loss`` derived from the data, its ``evidence()`` (see
    :func:`benchmark.hookspecs.register_losses`), checked to be a mapping of JSON values now,
    before training, rather than when the result is written; None for a loss without it."""
    import json

    report = getattr(loss, "evidence", None)
    if report is None:
        return None
    evidence = report()
    if not isinstance(evidence, dict):
        raise BenchError(f"evidence() returned a {type(evidence).__name__}; it must return a dict of JSON values")
    try:
        json.dumps(evidence, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BenchError(f"evidence() returned values that are not JSON ({exc}); return plain numbers, strings, "
                         "lists and dicts") from None
    return evidence


def train(ctx: RunContext, config: dict[str, Any], model: RetrievalModel, stage: Stage,
          data: LossContext) -> tuple[Trainer, Selected]:
    """One training stage with a fresh loss (prepared on ``data``, its evidence taken) and
    optimiser; returns the trainer and its selection."""
    from benchmark.registry import label
    from benchmark.train import Trainer

    loss = ctx.manager.create("losses", config["loss"], "system 'loss'")
    if hasattr(loss, "prepare"):
        for turn in (True, False):  # rank 0 fills the loss's caches, then the others read them
            if ctx.dist.main == turn:
                with naming(label("losses", config["loss"]["name"])):
                    loss.prepare(data)
            barrier()
    with naming(label("losses", config["loss"]["name"])):
        evidence = loss_evidence(loss)
    trainer = Trainer(model, loss, config, stage, ctx)
    trainer.loss_evidence = evidence
    ranks = f" on {ctx.dist.world_size} ranks" if ctx.dist.distributed else ""
    ctx.log(f"training on {data.dataset}: {len(stage.train)} clips, batch {trainer.batch_size}{ranks}, "
            f"{stage.epochs} epochs, {ctx.device.type}")
    selected = trainer.fit()
    if trainer.resumed_from:
        ctx.log(f"resumed from the checkpoint of epoch {trainer.resumed_from} in {stage.state_dir}")
    return trainer, selected


def check_untrained(config: dict[str, Any], model: RetrievalModel) -> None:
    """Refuse a zero-shot system with parts that would learn: scoring them untrained would
    score random weights, not the system."""
    learning = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if learning:
        raise BenchError(f"system {config['name']!r} is zero-shot (schedule.epochs 0) but {learning:,} of its parameters "
                         "(heads, fusion or a trainable caption encoder) would be scored untrained; use parts that "
                         "learn nothing (head: average, a frozen caption encoder) or train it")


def pretrain(ctx: RunContext, run: Plan, model: RetrievalModel, features: Features) -> dict[str, Any]:
    """Train on the run's pre-training datasets (opened with its plan), sampled with equal
    frequency, before the main stage; checkpoints go to ``pretrain/`` in its run directory.

    Their training splits are concatenated (CIDEr statistics then span the union) and so
    are their validation splits; the selected checkpoint initialises the main stage.
    """
    from benchmark.model import ClipInputs
    from benchmark.train import Stage

    config, datasets = run.config, run.pretrain
    inputs: dict[str, list[ClipInputs]] = {"train": [], "validation": []}
    splits: dict[str, list[Split]] = {"train": [], "validation": []}
    for dataset in datasets:
        ctx.log(f"preparing pre-training dataset {dataset.key}")
        prepare(dataset, ctx.dist)
        for role in inputs:
            role_splits = dataset.parts(role)
            inputs[role].append(features.role_inputs(dataset.storage_key, role_splits))
            splits[role].extend(role_splits)
    data = loss_context("+".join(d.key for d in datasets), splits, ctx.cache_root)
    stage = Stage(ClipInputs.concatenate(inputs["train"], equal_frequency=True), ClipInputs.concatenate(inputs["validation"]),
                  run.state_dir / "pretrain", int(config["pretrain"]["epochs"]))
    trainer, selected = train(ctx, config, model, stage, data)
    return {
        "datasets": [d.key for d in datasets],
        "n_clips": len(stage.train),
        "epochs": stage.epochs,
        "checkpoint": {"epoch": selected.epoch, "selected_by": selected.monitor, "value": selected.value},
        "history": trainer.history,
        **({"loss_evidence": trainer.loss_evidence} if trainer.loss_evidence is not None else {}),
    }
