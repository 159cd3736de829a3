"""One benchmark run: prepare data, extract features, train, pick a checkpoint, score, record."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark import paths
from benchmark.errors import BenchError
from benchmark.io import write_json


@dataclass
class RunOptions:
    system: str
    dataset: str
    seed: int = 0
    output: Path = Path("results")
    device: str = "auto"
    dataset_options: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
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
    import json

    result = json.loads(target.read_text(encoding="utf-8"))
    if result.get("config") != config:
        raise BenchError(
            f"result {target} exists for a different configuration of this system; "
            "pass --force to replace it or choose another --output"
        )
    log(f"result {target} already exists: not re-running (pass --force to run again)")
    return result


def run(options: RunOptions, log: Any = print) -> tuple[Path, dict[str, Any]]:
    """Execute one run and write its result file; return the file and its contents."""
    from benchmark.config import resolve_system
    from benchmark.data import open_dataset
    from benchmark.plugins import get_plugin_manager
    from benchmark.results import SCHEMA, environment, result_path, run_dir

    started = time.perf_counter()
    timings: dict[str, float] = {}
    manager = get_plugin_manager()
    device = resolve_device(options.device)
    config = resolve_system(options.system, manager, options.overrides, device.type)
    data_root = options.data_root or paths.data_root()
    cache_root = options.cache_root or paths.cache_root()
    dataset = open_dataset(manager, options.dataset, options.dataset_options, data_root)
    target = result_path(options.output, dataset.key, options.system, options.seed)
    state_dir = run_dir(options.output, dataset.key, options.system, options.seed)
    if target.exists() and not options.force:
        return target, _existing(target, config, log)
    paths.ensure_writable(target.parent, "output directory")
    paths.ensure_writable(cache_root, "cache directory")
    paths.ensure_writable(dataset.data_dir, "data directory")
    if options.force and state_dir.exists():
        shutil.rmtree(state_dir)

    import torch

    from benchmark.evaluate import score
    from benchmark.features import caption_embeddings, expert_features
    from benchmark.model import ClipInputs, build_model
    from benchmark.train import Trainer

    log(f"preparing dataset {dataset.key} in {dataset.data_dir}")
    tick = time.perf_counter()
    dataset.plugin.prepare(dataset.data_dir)
    splits = {role: dataset.split(role) for role in ("train", "validation", "test")}
    timings["prepare"] = time.perf_counter() - tick

    tick = time.perf_counter()
    experts = [(spec["name"], manager.create("experts", spec, "system 'experts'")) for spec in config["experts"]]
    audio = {
        role: [expert_features(name, expert, dataset.key, split, cache_root) for name, expert in experts]
        for role, split in splits.items()
    }
    text_spec = dict(config["text_encoder"])
    trainable = bool(text_spec.pop("trainable", False))
    text_encoder = manager.create("text_encoders", text_spec, "system 'text_encoder'", trainable=trainable)
    text = {
        role: None if trainable else caption_embeddings(text_spec["name"], text_encoder, dataset.key, split, cache_root)
        for role, split in splits.items()
    }
    inputs = {role: ClipInputs(audio[role], split.captions, text[role]) for role, split in splits.items()}
    timings["features"] = time.perf_counter() - tick

    tick = time.perf_counter()
    torch.manual_seed(options.seed)
    model = build_model(config, manager, [store.dim for store in audio["train"]], text_encoder)
    loss = manager.create("losses", config["loss"], "system 'loss'")
    if hasattr(loss, "prepare"):
        from benchmark.api import LossContext

        captions = {role: [list(c) for c in splits[role].captions] for role in ("train", "validation")}
        loss.prepare(LossContext(dataset.key, captions, cache_root))
    trainer = Trainer(model, loss, config, inputs["train"], inputs["validation"], state_dir, device, options.seed)
    log(f"training {options.system} (seed {options.seed}) on {device.type}, batch {trainer.batch_size}")
    selected = trainer.fit()
    timings["train"] = time.perf_counter() - tick

    tick = time.perf_counter()
    scores = score(model, inputs["test"], device)
    timings["evaluate"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started

    result = {
        "schema": SCHEMA,
        "system": options.system,
        "dataset": dataset.key,
        "dataset_name": dataset.name,
        "dataset_options": dataset.plugin.options(),
        "protocol": dict(dataset.plugin.protocol),
        "seed": options.seed,
        "config": config,
        "overrides": list(options.overrides),
        "batch_size_used": trainer.batch_size,
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
            "path": str(selected.path),
        },
        "history": trainer.history,
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
        "environment": environment(),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(target, result)
    return target, result
