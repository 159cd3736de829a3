"""One benchmark run, read top to bottom in :func:`_run`: plan → claim → prepare →
features → model → pre-train → train → score → record."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark import paths
from benchmark.context import Log, RunContext
from benchmark.distributed import barrier, check_shared, decided_by_rank0
from benchmark.errors import BenchError
from benchmark.plan import AUTO_FALLBACK, Plan, RunOptions, auto_fell_back, system_dir

if TYPE_CHECKING:
    from benchmark.plugins import PluginManager
    from benchmark.results import Result


def plan(options: RunOptions, manager: PluginManager, device_type: str) -> Plan:
    """Resolve the system and the dataset and locate the result (nothing is prepared): a
    run with ``--set`` overrides has a directory of its own (:func:`benchmark.plan.system_dir`)."""
    from benchmark.config import component, resolve_system
    from benchmark.data import open_dataset
    from benchmark.results import result_path, run_dir
    from benchmark.settings import check_seed

    check_seed(options.seed)
    config = resolve_system(options.system, manager, options.overrides, device_type, options.expert_weights)
    data_root = options.data_root or paths.data_root()
    dataset = open_dataset(manager, options.dataset, options.dataset_options, data_root)
    pretrain = tuple(open_dataset(manager, spec["name"], spec.get("options", {}), data_root)  # a bad one is named now
                     for spec in map(component, (config["pretrain"] or {}).get("datasets", [])))
    where = (options.output, dataset.key, system_dir(options.system, options.overrides), options.seed)
    return Plan(config, dataset, result_path(*where), run_dir(*where), pretrain)


def existing(plan: Plan, log: Log) -> Result:
    """An earlier result of the same run is reused, never overwritten; a different one is an error."""
    from benchmark.results import read

    result = read(plan.result)
    if result.config != plan.config:
        raise BenchError(
            f"result {plan.result} exists for a different configuration of this system; "
            "pass --force to replace it or choose another --output"
        )
    log(f"result {plan.result} already exists: not re-running (pass --force to run again)")
    return result


def extract(options: RunOptions, shard: tuple[int, int] = (0, 1), log: Log = print) -> bool:
    """Fill the feature cache of a run without training: shard ``i`` of ``n`` of every split
    the run uses. Independent processes (machines sharing the cache) each take a shard;
    the last to finish completes the cache. True when the cache is complete."""
    from benchmark.distributed import resolve_device
    from benchmark.features import Features
    from benchmark.plugins import get_plugin_manager

    manager, device = get_plugin_manager(), resolve_device(options.device)
    run = plan(options, manager, device.type)
    cache_root = paths.ensure_writable(options.cache_root or paths.cache_root(), "cache directory")
    paths.ensure_writable(run.dataset.data_dir, "data directory")
    run.dataset.prepare()
    features = Features(run.config, manager, device, cache_root)
    done = True
    for split in {s.name: s for role in ("train", "validation", "test") for s in run.dataset.parts(role)}.values():
        complete = features.extract(run.dataset.storage_key, split, shard)
        log(f"{split.name}: {'complete' if complete else f'shard {shard[0]}/{shard[1]} done, waiting for the other shards'}")
        done = done and complete
    return done


def run(options: RunOptions, log: Log = print) -> tuple[Path, Result]:
    """Execute one run and write its result file; return the file and its contents.

    Under ``torchrun`` every rank calls this: they share the feature extraction and the
    training (see :mod:`benchmark.distributed`), and rank 0 alone logs and writes.
    """
    from benchmark import distributed
    from benchmark.plugins import get_plugin_manager

    dist = distributed.from_environment()
    device = distributed.setup(dist, distributed.resolve_device(options.device))
    ctx = RunContext(
        get_plugin_manager(), device, options.seed, options.data_root or paths.data_root(),
        options.cache_root or paths.cache_root(), dist, log if dist.main else (lambda message: None),
    )
    try:
        with contextlib.ExitStack() as claims:  # the result's claim, once _run takes it
            return _run(options, ctx, claims)
    finally:
        distributed.teardown()


def _run(options: RunOptions, ctx: RunContext, claims: contextlib.ExitStack) -> tuple[Path, Result]:
    import torch

    from benchmark import stages
    from benchmark.clock import Clock
    from benchmark.config import zero_shot
    from benchmark.data import Split
    from benchmark.evaluate import score
    from benchmark.features import Features
    from benchmark.model import build_model
    from benchmark.queries import check_query_sets
    from benchmark.results import claim, discard_run_dir, record, write
    from benchmark.train import Stage

    # Plan: the configuration, the dataset and the result path; a finished run is reused.
    run = plan(options, ctx.manager, ctx.device.type)
    if run.result.exists() and not options.force:
        return run.result, existing(run, ctx.log)
    if auto_fell_back(options.device, ctx.device.type):
        ctx.log(AUTO_FALLBACK)
    hint = run.protocol_hint()
    if hint:
        ctx.log(hint)
    paths.ensure_writable(run.result.parent, "output directory")
    # Claim the result: one process trains it; a second one stops here, naming the first.
    def claimed_finished() -> bool:  # rank 0 claims; every rank learns whether to stop
        claims.enter_context(claim(run.result))
        return run.result.exists() and not options.force  # finished by another process meanwhile

    if decided_by_rank0(ctx.dist, claimed_finished):
        return run.result, existing(run, ctx.log)
    paths.ensure_writable(ctx.cache_root, "cache directory")
    paths.ensure_writable(run.dataset.data_dir, "data directory")
    if options.force and ctx.dist.main:
        discard_run_dir(run.state_dir)
    check_shared(ctx.dist, {"cache directory": ctx.cache_root, "data directory": run.dataset.data_dir, "run directory": run.state_dir})
    clock = Clock(run.state_dir / "timings.json", write=ctx.dist.main)

    # Prepare the data: download or generate, verify, list each role's splits.
    ctx.log(f"preparing dataset {run.dataset.key} in {run.dataset.data_dir}")
    with clock.stage("prepare"):
        stages.prepare(run.dataset, ctx.dist)
        parts = {role: run.dataset.parts(role) for role in ("train", "validation", "test")}
        for line in run.dataset.report():
            ctx.log(line)
        # What the test split's scoring counts as relevant, checked now rather than after training.
        test = Split.union(parts["test"])
        relevance, sets = run.dataset.relevance(test), run.dataset.query_sets(test)
        check_query_sets(sets, test.file_names, test.captions)

    # Features: expert frames (and frozen caption embeddings), computed once into the cache.
    with clock.stage("features"):
        features = Features(run.config, ctx.manager, ctx.device, ctx.cache_root, ctx.dist)
        inputs = {role: features.role_inputs(run.dataset.storage_key, parts[role]) for role in parts}

    # Model: a head per expert, the fusion, and the caption encoder if it trains.
    torch.manual_seed(ctx.seed)
    dims = [store.dim for store in inputs["train"].audio]
    model = build_model(run.config, ctx.manager, dims, features.text_dim(inputs["train"]), features.trained_text)

    # Pre-train on other datasets (optional), then train on this one's training split.
    pretrained = None
    if run.config.get("pretrain"):
        with clock.stage("pretrain"):
            pretrained = stages.pretrain(ctx, run, model, features)
    with clock.stage("train"):
        trainer = selected = None
        if zero_shot(run.config):  # nothing to train: the pretrained parts are scored as they are
            stages.check_untrained(run.config, model)
            ctx.log(f"zero-shot: {run.config['name']} trains nothing (schedule.epochs 0)")
        else:
            data = stages.loss_context(run.dataset.key, parts, ctx.cache_root)
            state_dir = run.state_dir / "finetune" if pretrained else run.state_dir
            stage = Stage(inputs["train"], inputs["validation"], state_dir, int(run.config["schedule"]["epochs"]))
            trainer, selected = stages.train(ctx, run.config, model, stage, data)

    # Score the selected checkpoint on the test split.
    with clock.stage("evaluate"):
        scores = score(model, inputs["test"], test, ctx.device, relevance, sets)

    # Record: the result and the evidence behind it, written once by rank 0.
    splits = {role: Split.union(parts[role]) for role in parts}
    result = record(options, run, features, (trainer, selected, scores), splits)
    result.pretrain, result.timings_s = pretrained, clock.record()
    if ctx.dist.main:
        if run.result.exists() and not options.force:  # written meanwhile by a process that ignored the claim
            result = existing(run, ctx.log)  # kept; one of another configuration is refused
        else:
            write(run.result, result, scores["queries"])
    barrier()
    return run.result, result
