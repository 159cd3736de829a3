"""One benchmark run: prepare data, extract features, train, pick a checkpoint, score, record."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark import paths
from benchmark.config import component
from benchmark.distributed import Context, barrier
from benchmark.errors import BenchError
from benchmark.io import write_json


@dataclass
class RunOptions:
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


def resolve_device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda: no CUDA device is available to torch here; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise BenchError(f"--device {name!r}: choose auto, cpu or cuda")
    return torch.device(name)


def _existing(target: Path, config: dict[str, Any], log: Any) -> dict[str, Any]:
    """An earlier result of the same run is reused, never overwritten; a different one is an error."""
    from benchmark.results import read

    result = read(target)
    if result.get("config") != config:
        raise BenchError(
            f"result {target} exists for a different configuration of this system; "
            "pass --force to replace it or choose another --output"
        )
    log(f"result {target} already exists: not re-running (pass --force to run again)")
    return result


class _Features:
    """Expert frames and (frozen) caption embeddings of any split, through the cache."""

    def __init__(
        self, experts: list[tuple[str, Any]], text_name: str, frozen_text: Any, cache_root: Path,
        context: Context = Context(),
    ) -> None:
        self.experts, self.text_name, self.frozen_text, self.cache_root = experts, text_name, frozen_text, cache_root
        self.context = context

    def extract(self, dataset_key: str, split: Any, shard: tuple[int, int]) -> bool:
        """Compute shard ``shard`` of every expert's frames (and frozen caption embeddings) of
        ``split``; True once every shard is done and the cache entries are complete."""
        from benchmark.features import caption_embeddings, expert_features

        done = [expert_features(n, e, dataset_key, split, self.cache_root, shard) is not None for n, e in self.experts]
        if self.frozen_text is not None:
            done.append(caption_embeddings(self.text_name, self.frozen_text, dataset_key, split, self.cache_root, shard) is not None)
        return all(done)

    def inputs(self, dataset_key: str, split: Any) -> Any:
        from benchmark.features import caption_embeddings, expert_features
        from benchmark.model import ClipInputs

        audio = [expert_features(name, expert, dataset_key, split, self.cache_root) for name, expert in self.experts]
        text = None
        if self.frozen_text is not None:
            text = caption_embeddings(self.text_name, self.frozen_text, dataset_key, split, self.cache_root)
        return ClipInputs(audio, split.captions, text)

    def role_inputs(self, storage_key: str, parts: list[Any]) -> Any:
        """Inputs of a protocol role: each split cached on its own, then read as one, so a
        union such as ``development+validation`` reuses the splits' features."""
        from benchmark.model import ClipInputs

        if self.context.distributed:  # each rank extracts its shard; rank 0 packs; all read
            for part in parts:
                self.extract(storage_key, part, (self.context.rank, self.context.world_size))
            barrier()
            if self.context.main:
                for part in parts:
                    self.extract(storage_key, part, (0, 1))
            barrier()
        return ClipInputs.concatenate([self.inputs(storage_key, part) for part in parts])


def _features(config: dict[str, Any], manager: Any, device: Any, cache_root: Path, context: Context) -> tuple[_Features, Any, bool]:
    """The system's experts and caption encoder; features are cached for frozen encoders only."""
    experts = [(spec["name"], manager.create("experts", spec, "system 'experts'")) for spec in config["experts"]]
    for _, expert in experts:
        expert.device = device.type
    text_spec = dict(config["text_encoder"])
    trainable = bool(text_spec.pop("trainable", False))
    text_encoder = manager.create("text_encoders", text_spec, "system 'text_encoder'", trainable=trainable)
    features = _Features(experts, text_spec["name"], None if trainable else text_encoder, cache_root, context)
    return features, text_encoder, trainable


def extract(options: RunOptions, shard: tuple[int, int] = (0, 1), log: Any = print) -> bool:
    """Fill the feature cache of a run without training: shard ``i`` of ``n`` of every split
    the run uses. Independent processes (machines sharing the cache) each take a shard;
    the last to finish completes the cache. True when the cache is complete."""
    from benchmark.config import resolve_system
    from benchmark.data import open_dataset
    from benchmark.plugins import get_plugin_manager

    manager = get_plugin_manager()
    device = resolve_device(options.device)
    config = resolve_system(options.system, manager, options.overrides, device.type, options.expert_weights)
    dataset = open_dataset(manager, options.dataset, options.dataset_options, options.data_root or paths.data_root())
    cache_root = paths.ensure_writable(options.cache_root or paths.cache_root(), "cache directory")
    dataset.plugin.prepare(paths.ensure_writable(dataset.data_dir, "data directory"))
    features, _, _ = _features(config, manager, device, cache_root, Context())
    splits = {split.name: split for role in ("train", "validation", "test") for split in dataset.parts(role)}
    done = True
    for name, split in splits.items():
        complete = features.extract(dataset.storage_key, split, shard)
        log(f"{name}: {'complete' if complete else f'shard {shard[0]}/{shard[1]} done, waiting for the other shards'}")
        done = done and complete
    return done


def _loss_context(key: str, splits: dict[str, list[Any]], cache_root: Path) -> Any:
    """What a loss's ``prepare`` sees of the training and validation splits (each role's
    splits concatenated in order)."""
    from benchmark.api import LossContext

    roles = ("train", "validation")
    captions = {role: [list(c) for split in splits[role] for c in split.captions] for role in roles}
    clips = {role: [name for split in splits[role] for name in split.file_names] for role in roles}
    return LossContext(key, captions, cache_root, clips)


def _train(
    config: dict[str, Any], manager: Any, model: Any, train: Any, validation: Any, data: Any,
    state_dir: Path, device: Any, seed: int, epochs: int, log: Any, context: Context = Context(),
) -> tuple[Any, Any]:
    """One training stage with a fresh loss and optimiser, on ``data`` (a LossContext);
    returns the trainer and its selection."""
    from benchmark.train import Trainer

    loss = manager.create("losses", config["loss"], "system 'loss'")
    if hasattr(loss, "prepare"):
        for turn in (True, False):  # rank 0 fills the loss's caches, then the others read them
            if context.main == turn:
                loss.prepare(data)
            barrier()
    trainer = Trainer(model, loss, config, train, validation, state_dir, device, seed, epochs=epochs, context=context)
    ranks = f" on {context.world_size} ranks" if context.distributed else ""
    log(f"training on {data.dataset}: {len(train)} clips, batch {trainer.batch_size}{ranks}, {epochs} epochs, {device.type}")
    selected = trainer.fit()
    if trainer.resumed_from:
        log(f"resumed from the checkpoint of epoch {trainer.resumed_from} in {state_dir}")
    return trainer, selected


def _pretrain(
    config: dict[str, Any], manager: Any, model: Any, features: _Features, data_root: Path, state_dir: Path,
    device: Any, seed: int, log: Any, context: Context = Context(),
) -> dict[str, Any]:
    """Train on the ``pretrain`` datasets, sampled with equal frequency, before the main stage.

    Their training splits are concatenated (CIDEr statistics then span the union) and so
    are their validation splits; the selected checkpoint initialises the main stage.
    """
    from benchmark.data import open_dataset
    from benchmark.model import ClipInputs

    spec = config["pretrain"]
    datasets = [open_dataset(manager, d["name"], d.get("options", {}), data_root) for d in map(component, spec["datasets"])]
    parts: dict[str, list[Any]] = {"train": [], "validation": []}
    splits: dict[str, list[Any]] = {"train": [], "validation": []}
    for dataset in datasets:
        log(f"preparing pre-training dataset {dataset.key}")
        _prepare(dataset, context)
        for role in parts:
            role_splits = dataset.parts(role)
            parts[role].append(features.role_inputs(dataset.storage_key, role_splits))
            splits[role].extend(role_splits)
    train = ClipInputs.concatenate(parts["train"], equal_frequency=True)
    validation = ClipInputs.concatenate(parts["validation"])
    data = _loss_context("+".join(d.key for d in datasets), splits, features.cache_root)
    trainer, selected = _train(
        config, manager, model, train, validation, data, state_dir / "pretrain", device, seed, int(spec["epochs"]),
        log, context,
    )
    return {
        "datasets": [d.key for d in datasets],
        "n_clips": len(train),
        "epochs": int(spec["epochs"]),
        "checkpoint": {"epoch": selected.epoch, "selected_by": selected.monitor, "value": selected.value},
        "history": trainer.history,
    }


def _expert_settings(experts: list[tuple[str, Any]]) -> dict[str, Any]:
    """Each expert's settings by name; a name listed again is keyed ``name#2``, ``name#3``."""
    out: dict[str, Any] = {}
    for name, expert in experts:
        key, n = name, 1
        while key in out:
            n += 1
            key = f"{name}#{n}"
        out[key] = expert.settings()
    return out


def _prepare(dataset: Any, context: Context) -> None:
    """Prepare a dataset once: rank 0 downloads and verifies while the other ranks wait."""
    if context.main:
        dataset.plugin.prepare(dataset.data_dir)
    barrier()


class _Clock:
    """Seconds per stage of a run, over all its invocations: an interrupted run that resumes
    adds this invocation's time to the earlier ones' (kept in ``timings.json`` of the run
    directory, written after each stage and on interruption)."""

    def __init__(self, path: Path, write: bool) -> None:
        import json

        self.path, self.write = path, write
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        self.invocations = int(saved.get("invocations", 0)) + 1
        self.seconds: dict[str, float] = {k: float(v) for k, v in saved.get("seconds", {}).items()}

    @contextlib.contextmanager
    def stage(self, name: str) -> Any:
        from benchmark.io import WriteFailed

        tick, failed = time.perf_counter(), True
        try:
            yield
            failed = False
        finally:
            elapsed = time.perf_counter() - tick
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            self.seconds["total"] = self.seconds.get("total", 0.0) + elapsed
            # After a failure (a full disk, say) the stage's own error is the one to report.
            with contextlib.suppress(*((WriteFailed,) if failed else ())):
                if self.write:
                    write_json(self.path, {"invocations": self.invocations, "seconds": self.seconds})

    def record(self) -> dict[str, Any]:
        """The result's ``timings_s``: seconds per stage and in all, and how many invocations."""
        return {**{k: round(v, 3) for k, v in self.seconds.items()}, "invocations": self.invocations}


def _discard(state_dir: Path) -> None:
    """Delete an earlier run's checkpoints for ``--force``; never through a symbolic link,
    whose target may hold anything."""
    if state_dir.is_symlink():
        raise BenchError(
            f"run directory {state_dir} is a symbolic link (to {state_dir.readlink()}); --force does not delete "
            "through links: remove the link, or empty its target yourself, and run again"
        )
    if state_dir.exists():
        shutil.rmtree(state_dir)


def run(options: RunOptions, log: Any = print) -> tuple[Path, dict[str, Any]]:
    """Execute one run and write its result file; return the file and its contents.

    Under ``torchrun`` every rank calls this: they share the feature extraction and the
    training (see :mod:`benchmark.distributed`), and rank 0 alone logs and writes.
    """
    from benchmark import distributed

    context = distributed.from_environment()
    device = distributed.setup(context, resolve_device(options.device))
    try:
        with contextlib.ExitStack() as claims:  # the result's claim, once _run takes it
            return _run(options, device, context, log if context.main else (lambda message: None), claims)
    finally:
        distributed.teardown()


def _run(
    options: RunOptions, device: Any, context: Context, log: Any, claims: contextlib.ExitStack
) -> tuple[Path, dict[str, Any]]:
    from benchmark.config import resolve_system
    from benchmark.data import Split, open_dataset
    from benchmark.plugins import get_plugin_manager
    from benchmark.results import SCHEMA, claim, environment, result_path, run_dir
    from benchmark.settings import check_seed

    check_seed(options.seed)
    manager = get_plugin_manager()
    config = resolve_system(options.system, manager, options.overrides, device.type, options.expert_weights)
    data_root = options.data_root or paths.data_root()
    cache_root = options.cache_root or paths.cache_root()
    dataset = open_dataset(manager, options.dataset, options.dataset_options, data_root)
    target = result_path(options.output, dataset.key, options.system, options.seed)
    state_dir = run_dir(options.output, dataset.key, options.system, options.seed)
    if target.exists() and not options.force:
        return target, _existing(target, config, log)
    paths.ensure_writable(target.parent, "output directory")
    if context.main:  # one process trains a result: a second one stops here, naming the first
        claims.enter_context(claim(target))
        if target.exists() and not options.force:  # finished by another process since the check above
            return target, _existing(target, config, log)
    paths.ensure_writable(cache_root, "cache directory")
    paths.ensure_writable(dataset.data_dir, "data directory")
    if options.force and context.main:
        _discard(state_dir)

    import torch

    from benchmark.evaluate import score
    from benchmark.model import build_model

    clock = _Clock(state_dir / "timings.json", write=context.main)
    log(f"preparing dataset {dataset.key} in {dataset.data_dir}")
    with clock.stage("prepare"):
        _prepare(dataset, context)
        parts = {role: dataset.parts(role) for role in ("train", "validation", "test")}
        splits = {role: Split.union(parts[role]) for role in parts}
        for line in dataset.plugin.report(dataset.data_dir):
            log(line)

    with clock.stage("features"):
        features, text_encoder, trainable = _features(config, manager, device, cache_root, context)
        experts = features.experts
        inputs = {role: features.role_inputs(dataset.storage_key, parts[role]) for role in parts}

    torch.manual_seed(options.seed)
    text_dim = text_encoder.dim if trainable else inputs["train"].text.dim
    model = build_model(config, manager, [store.dim for store in inputs["train"].audio], text_dim, text_encoder)
    stages: dict[str, Any] = {}
    if config.get("pretrain"):
        with clock.stage("pretrain"):
            stages["pretrain"] = _pretrain(
                config, manager, model, features, data_root, state_dir, device, options.seed, log, context
            )

    with clock.stage("train"):
        trainer, selected = _train(
            config, manager, model, inputs["train"], inputs["validation"], _loss_context(dataset.key, parts, cache_root),
            state_dir / "finetune" if stages else state_dir, device, options.seed, int(config["schedule"]["epochs"]),
            log, context,
        )

    with clock.stage("evaluate"):
        scores = score(model, inputs["test"], device)

    result = {
        "schema": SCHEMA,
        "system": options.system,
        "dataset": dataset.key,
        "dataset_name": dataset.name,
        "dataset_options": dataset.plugin.options(),
        "dataset_source": dataset.plugin.source(),
        "protocol": {"name": dataset.plugin.protocol_name, **dataset.plugin.protocol},
        "seed": options.seed,
        "config": config,
        "overrides": list(options.overrides),
        "expert_weights": options.expert_weights or "as configured",
        "experts": _expert_settings(experts),
        "batch_size_used": trainer.batch_size,
        "world_size": context.world_size,
        "device": str(device),
        "text_encoder": text_encoder.settings(),
        "metrics": {"text_to_audio": scores["text_to_audio"], "audio_to_text": scores["audio_to_text"]},
        "chance": scores["chance"],
        "n_clips": {role: len(split) for role, split in splits.items()},
        "n_test_captions": scores["n_captions"],
        "checkpoint": {
            "epoch": selected.epoch,
            "selected_by": selected.monitor,
            "value": selected.value,
            "rule": f"best {selected.monitor} on the {dataset.plugin.protocol['validation']} split",
            "resumed_from_epoch": trainer.resumed_from,
            "path": str(selected.path),
        },
        "history": trainer.history,
        **stages,
        "timings_s": clock.record(),
        "environment": environment(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if context.main:
        if target.exists() and not options.force:  # written meanwhile by a process that ignored the claim
            result = _existing(target, config, log)  # kept; one of another configuration is refused
        else:
            write_json(target, result)
    barrier()
    return target, result
