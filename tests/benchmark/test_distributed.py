"""Distributed training on CPU with gloo: 2 ranks with local batch b compute the same loss and
the same gradients as 1 process with batch 2b, for each contrastive loss."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from benchmark.api import LossContext
from benchmark.config import DEFAULTS, merge
from benchmark.context import RunContext
from benchmark.distributed import Context
from benchmark.model import RetrievalModel
from benchmark.train import Stage, Trainer
from tests.benchmark.test_train import clip_inputs

GLOBAL_BATCH = 8
LOSSES = {
    "ranking": {"name": "ranking", "margin": 0.2, "matching_weight": 0.0},
    "cider_relax": {"name": "ranking", "margin": 0.2, "matching_weight": 3.0,
                    "relax": {"percentiles": [80, 90, 99], "values": [1.0, 0.7, 0.4]}},
    "infonce": {"name": "infonce", "temperature": 0.07},
}


def step(root, loss_name, context):
    """Loss and gradients of one training step on a fixed global batch."""
    from benchmark.plugins import get_plugin_manager
    from bench_plugins.fusions.moee import CollaborativeGating
    from bench_plugins.heads.transformer import TransformerHead

    manager = get_plugin_manager()
    torch.manual_seed(0)
    heads = [TransformerHead(8, 8, dim=16, dropout=0.0) for _ in range(2)]
    model = RetrievalModel(heads, CollaborativeGating(2, 8), None)
    train, val = clip_inputs(root, "train", 20, 0), clip_inputs(root, "val", 8, 1)
    train.audio = train.audio * 2  # two experts, so the fusion's gating has pairs
    val.audio = val.audio * 2
    loss = manager.create("losses", LOSSES[loss_name], "loss")
    if hasattr(loss, "prepare"):
        captions = [[f"a sound number {i} rings", f"the number {i} sound"] for i in range(20)]
        loss.prepare(LossContext("toy", {"train": captions, "validation": captions[:8]}, root / "cider"))
    config = merge(DEFAULTS, {"batch_size": GLOBAL_BATCH, "schedule": {"epochs": 1, "steps_per_epoch": 1}})
    ctx = RunContext(manager, torch.device("cpu"), 0, root, root, context, print)
    trainer = Trainer(model, loss, config, Stage(train, val, root / f"run-{context.rank}", 1), ctx)
    indices = np.array([3, 17, 0, 9, 12, 5, 1, 18])
    value = trainer.training_loss(trainer._batch(train, indices[trainer.local]), indices)
    value.backward()
    grads = {name: p.grad.clone() for name, p in [*model.named_parameters(), *loss.named_parameters()] if p.grad is not None}
    return value.item(), grads


def worker(rank, root, loss_name, init_file):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        value, grads = step(root, loss_name, Context(rank, 2, rank))
        torch.save({"loss": value, "grads": grads}, root / f"rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("loss_name", list(LOSSES))
def test_two_ranks_match_one_process_with_the_global_batch(tmp_path, loss_name):
    single_loss, single_grads = step(tmp_path, loss_name, Context())
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(worker, args=(tmp_path, loss_name, str(tmp_path / "init")), nprocs=2, join=True)
    for rank in range(2):
        saved = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert saved["loss"] == pytest.approx(single_loss, abs=1e-5)
        assert set(saved["grads"]) == set(single_grads)
        for name, grad in single_grads.items():
            torch.testing.assert_close(saved["grads"][name], grad, atol=1e-5, rtol=1e-4, msg=f"{name} ({loss_name})")


# -- end to end: torchrun and sharded extraction --------------------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from tests.conftest import dataset_args  # noqa: E402

#: Two cache chunks of 32 clips in development, so shards and ranks share real work.
DATA = {"n_development": 64, "n_validation": 16, "n_evaluation": 16, "min_seconds": 0.5, "max_seconds": 1.0}
RUN = ["run", "--system", "ranking", "--dataset", "synthetic", *dataset_args(DATA), "--set", "schedule.epochs=3",
       "--set", "batch_size=16", "--set", "head.dropout=0.0", "--set", "experts=[{name: logmel, frame_rate: 2.0}]"]


def bench_process(args, home, launcher=(), **kwargs):
    env = {**os.environ, "BENCH_HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, *launcher, "-m", "benchmark.cli", *map(str, args)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def finished(process, timeout=600):
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    return out


@pytest.mark.slow
def test_torchrun_with_two_ranks_reaches_the_single_process_metrics(tmp_path):
    finished(bench_process([*RUN, "--output", tmp_path / "one"], tmp_path / "home-one"))
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    double = finished(bench_process([*RUN, "--output", tmp_path / "two"], tmp_path / "home-two", torchrun))
    assert "batch 16 on 2 ranks" in double and double.count("text->audio") == 1  # rank 0 reports
    one, two = (json.loads(next((tmp_path / d).glob("*/ranking-set-*/seed-0.json")).read_text()) for d in ("one", "two"))
    assert two["world_size"] == 2 and one["world_size"] == 1
    for a, b in zip(one["history"], two["history"], strict=True):
        for key in ("train_loss", "val_loss", "m1", "m2"):
            assert a[key] == pytest.approx(b[key], abs=1e-4), key
    for direction in ("text_to_audio", "audio_to_text"):
        assert one["metrics"][direction] == pytest.approx(two["metrics"][direction], abs=1e-6)
    # The ranks shared the extraction: one complete cache entry per split, no leftover lock.
    entries = list((tmp_path / "home-two" / "cache" / "experts" / "logmel").iterdir())
    assert len(entries) == 3 and all((e / "COMPLETE").is_file() and not (e / "pack.lock").exists() for e in entries)


@pytest.mark.slow
def test_independent_shards_fill_one_cache(tmp_path):
    extract = ["extract", "--system", "ranking", "--dataset", "synthetic", *dataset_args(DATA),
               "--set", "experts=[{name: logmel, frame_rate: 2.0}]", "--cache-dir", tmp_path / "cache"]
    finished(bench_process([*extract[:-2], "--cache-dir", tmp_path / "whole"], tmp_path / "home"))  # prepares the data
    shards = [bench_process([*extract, "--shard", f"{i}/2"], tmp_path / "home") for i in range(2)]
    for process in shards:
        finished(process)
    for kind in ("experts/logmel", "text/sentence_transformer"):
        entries = sorted((tmp_path / "cache" / kind).iterdir())
        whole = sorted((tmp_path / "whole" / kind).iterdir())
        assert [e.name for e in entries] == [w.name for w in whole]  # same keys
        for entry, reference in zip(entries, whole):
            assert (entry / "COMPLETE").is_file() and not (entry / "chunks").exists()
            assert np.array_equal(np.load(entry / "frames.npy"), np.load(reference / "frames.npy"))


def worker_ranks(launcher_pid):
    """rank -> pid of the workers torchrun started."""
    ranks = {}
    for pid in subprocess.run(["pgrep", "-P", str(launcher_pid)], capture_output=True, text=True).stdout.split():
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        for item in environ:
            if item.startswith(b"RANK="):
                ranks[int(item[5:])] = int(pid)
    return ranks


@pytest.mark.slow
def test_a_rank_that_dies_stops_the_job_and_a_restart_resumes(tmp_path):
    import signal
    import time

    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    args = [*RUN, "--set", "schedule.epochs=12", "--output", tmp_path / "results"]
    job = bench_process(args, tmp_path / "home", torchrun)
    history = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and job.poll() is None:
        history = next((tmp_path / "results").glob("*/ranking-set-*/seed-0.run/history.json"), None)
        if history is not None and len(json.loads(history.read_text())) >= 2:
            break
        time.sleep(0.2)
    assert history is not None and job.poll() is None, "the job did not reach epoch 2"
    os.kill(worker_ranks(job.pid)[1], signal.SIGKILL)  # rank 1 dies mid-training
    out, _ = job.communicate(timeout=120)
    assert job.returncode != 0 and not list((tmp_path / "results").glob("*/ranking-set-*/seed-0.json")), out
    done = json.loads(history.read_text())[-1]["epoch"]
    restarted = finished(bench_process(args, tmp_path / "home", torchrun))
    assert f"resumed from the checkpoint of epoch {done}" in restarted
    result = json.loads(next((tmp_path / "results").glob("*/ranking-set-*/seed-0.json")).read_text())
    assert [h["epoch"] for h in result["history"]] == list(range(1, 13)) and result["checkpoint"]["resumed_from_epoch"] == done


@pytest.mark.slow
def test_torchrun_fine_tunes_the_caption_encoder(tmp_path):
    """The fine-tuned caption encoder has parameters no loss reaches (BERT's pooler);
    DistributedDataParallel must not stall on them from the second step on."""
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    args = [*RUN, "--set", "schedule.epochs=1", "--set", "schedule.steps_per_epoch=2", "--set", "batch_size=8",
            "--set", "text_encoder.trainable=true", "--output", tmp_path / "results"]
    out = finished(bench_process(args, tmp_path / "home", torchrun))
    assert "batch 8 on 2 ranks" in out


# -- timeouts, devices, dropout and shared storage -------------------------------------------

import socket  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmark import distributed  # noqa: E402
from benchmark.errors import BenchError  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def join(rank, root, port):
    """Join a 2-rank gloo group the way ``bench run`` does under torchrun: through the
    environment and :func:`distributed.setup`. Both ranks first meet on the filesystem, so
    a short process-group timeout does not race the other process's start."""
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    (root / f"ready{rank}").touch()
    while not (root / f"ready{1 - rank}").exists():
        time.sleep(0.01)
    context = distributed.from_environment()
    distributed.setup(context, torch.device("cpu"))
    return context


#: Seconds rank 0 spends "preparing" while rank 1 waits: over twice the collective timeout.
PREPARING = 4.0


def slow_rank_zero(rank, root, port):
    outcome = {}
    try:
        join(rank, root, port)
        store = torch.distributed.distributed_c10d._get_default_store()
        if rank == 0:
            time.sleep(PREPARING)  # downloads, CIDEr, packing: rank 1 waits at the barrier
        distributed.barrier()
        outcome["barrier"] = "passed"
        if rank == 0:
            time.sleep(PREPARING)  # now rank 1 waits in a collective, which must time out
            if store.check(["test/done"]):  # it did: nobody is left to join
                return
        started = time.monotonic()
        try:
            torch.distributed.all_reduce(torch.ones(1))
            outcome["collective"] = "passed"
        except RuntimeError:
            outcome["collective"] = "timed out"
        outcome["waited"] = time.monotonic() - started
        store.set("test/done", "1")
    finally:
        (root / f"rank{rank}.json").write_text(json.dumps(outcome))
        distributed.teardown()


@pytest.mark.slow
def test_a_long_preparation_on_rank_0_outlasts_the_collective_timeout(tmp_path, monkeypatch):
    """The collective timeout (BENCH_DIST_TIMEOUT_MINUTES, 1.8 s here) reaches the process
    group, yet the barrier where rank 1 waits 4 s for rank 0 does not depend on it."""
    monkeypatch.setenv("BENCH_DIST_TIMEOUT_MINUTES", "0.03")
    monkeypatch.setenv("BENCH_DIST_WAIT_MINUTES", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    mp.spawn(slow_rank_zero, args=(tmp_path, free_port()), nprocs=2, join=True)
    outcome = {rank: json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)}
    assert outcome[0]["barrier"] == outcome[1]["barrier"] == "passed"
    assert outcome[1]["collective"] == "timed out" and outcome[1]["waited"] < PREPARING


def test_timeouts_are_positive_minutes(monkeypatch):
    monkeypatch.delenv("BENCH_DIST_TIMEOUT_MINUTES", raising=False)
    assert distributed.minutes("BENCH_DIST_TIMEOUT_MINUTES", 120) == timedelta(hours=2)
    for bad in ("0", "-5", "soon", "nan", "inf"):
        monkeypatch.setenv("BENCH_DIST_TIMEOUT_MINUTES", bad)
        with pytest.raises(BenchError, match=f"BENCH_DIST_TIMEOUT_MINUTES='{bad}' is not a positive number of minutes"):
            distributed.minutes("BENCH_DIST_TIMEOUT_MINUTES", 120)
    monkeypatch.setenv("BENCH_DIST_TIMEOUT_MINUTES", "90")
    assert distributed.minutes("BENCH_DIST_TIMEOUT_MINUTES", 120) == timedelta(minutes=90)


def test_each_rank_takes_a_gpu_it_sees(monkeypatch):
    """One GPU per process (SLURM --gpus-per-task=1): device 0 on every rank; all of the
    node's GPUs visible: the LOCAL_RANK-th; fewer GPUs than processes: a clear error."""
    chosen = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", chosen.append)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda: 8)
    for visible, local_rank, expected in ((1, 3, 0), (4, 3, 3), (8, 3, 3)):
        monkeypatch.setattr(torch.cuda, "device_count", lambda n=visible: n)
        device = distributed.setup(distributed.Context(4 + local_rank, 8, local_rank, 4), torch.device("cuda"))
        assert device == chosen[-1] == torch.device("cuda", expected)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(BenchError, match="LOCAL_RANK 3 of 4 processes on this node sees 2 GPU.*CUDA_VISIBLE_DEVICES 0,1"):
        distributed.device_for(distributed.Context(7, 8, 3, 4), 2)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert distributed.from_environment().local_world_size == 4


def dropout_masks(rank, root, port):
    """One training step with dropout 0.5; saves the masks of the head's dropout."""
    from benchmark.plugins import get_plugin_manager
    from bench_plugins.fusions.mean import MeanFusion
    from bench_plugins.heads.pooling import MeanPoolHead
    from bench_plugins.losses.ranking import RankingLoss

    try:
        context = join(rank, root, port)
        torch.manual_seed(0)
        head = MeanPoolHead(8, 8, hidden_dim=64, dropout=0.5)
        masks = []
        head.mlp[3].register_forward_hook(lambda module, args, out: masks.append(out == 0) if module.training else None)
        model = RetrievalModel([head], MeanFusion(1, 8), None)
        config = merge(DEFAULTS, {"batch_size": 16, "schedule": {"epochs": 1, "steps_per_epoch": 1}})
        shared = root / "inputs"  # rank 0 writes the toy caches first
        if rank == 0:
            clip_inputs(shared, "train", 32, 0), clip_inputs(shared, "val", 16, 1)
        distributed.barrier()
        train, val = clip_inputs(shared, "train", 32, 0), clip_inputs(shared, "val", 16, 1)
        ctx = RunContext(get_plugin_manager(), torch.device("cpu"), 0, root, root, context, print)
        Trainer(model, RankingLoss(), config, Stage(train, val, root / "run", 1), ctx).fit()
        torch.save(masks[0], root / f"mask{rank}.pt")
    finally:
        distributed.teardown()


@pytest.mark.slow
def test_each_rank_draws_its_own_dropout_masks(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    mp.spawn(dropout_masks, args=(tmp_path, free_port()), nprocs=2, join=True)
    masks = [torch.load(tmp_path / f"mask{rank}.pt", weights_only=True) for rank in range(2)]
    assert masks[0].shape == masks[1].shape == (8, 64)  # each rank's half of the global batch
    assert 0.3 < masks[1].float().mean() < 0.7  # dropout 0.5 does drop
    assert not torch.equal(masks[0], masks[1])


def _on_rank(rank, body, root, port):
    outcome = None
    try:
        outcome = body(join(rank, root, port), root)
    finally:
        (root / f"rank{rank}.json").write_text(json.dumps(outcome))
        distributed.teardown()


def on_two_ranks(body, root):
    """What ``body(context, root)`` returns on each of two gloo ranks."""
    mp.spawn(_on_rank, args=(body, root, free_port()), nprocs=2, join=True)
    return [json.loads((root / f"rank{rank}.json").read_text()) for rank in range(2)]


def shared_storage(context, root):
    messages = []
    for node in ("", f"node{context.rank}"):  # the same directory on both ranks, then each its own
        directories = {"cache directory": root / "cache", "run directory": root / node / "seed-0.run"}
        try:
            distributed.check_shared(context, directories)
            messages.append("")
        except BenchError as exc:
            messages.append(str(exc))
    return messages


@pytest.mark.slow
def test_ranks_that_do_not_share_the_run_directory_stop_together(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for rank, (same, separate) in enumerate(on_two_ranks(shared_storage, tmp_path)):
        assert same == ""
        assert separate == (
            f"the run directory {tmp_path / f'node{rank}' / 'seed-0.run'} is not shared: rank 1 (on {socket.gethostname()}) "
            "does not see the file rank 0 wrote there; it must be on storage shared by all nodes, or run on one node"
        )
    assert not [p for p in tmp_path.rglob(".bench-shared-*")]  # the token files are removed
    assert distributed.check_shared(distributed.Context(), {"run directory": Path("/nonexistent")}) is None


def left_waiting(rank, root, port):
    message = ""
    try:
        join(rank, root, port)
        store = torch.distributed.distributed_c10d._get_default_store()
        if rank == 1:  # rank 0 never comes
            try:
                distributed.barrier()
            except BenchError as exc:
                message = str(exc)
            store.set("test/done", "1")
        else:
            store.wait(["test/done"], timedelta(seconds=60))  # rank 0 hosts the store
    finally:
        (root / f"rank{rank}.txt").write_text(message)
        distributed.teardown()


@pytest.mark.slow
def test_a_barrier_gives_up_after_the_wait_timeout(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DIST_WAIT_MINUTES", "0.02")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    mp.spawn(left_waiting, args=(tmp_path, free_port()), nprocs=2, join=True)
    assert (tmp_path / "rank1.txt").read_text() == (
        "rank 1 waited 0.02 minutes at barrier 1 for the other ranks; if rank 0 is still preparing data or caches, "
        "raise BENCH_DIST_WAIT_MINUTES"
    )


def decisions(context, root):
    outcome = [distributed.decided_by_rank0(context, lambda: context.main)]  # rank 0's answer, everywhere
    try:
        distributed.decided_by_rank0(context, lambda: (_ for _ in ()).throw(BenchError("result r.json is claimed")))
    except BenchError as exc:
        outcome.append(str(exc))
    return outcome


@pytest.mark.slow
def test_every_rank_follows_rank_0s_decision_or_its_error(tmp_path, monkeypatch):
    """A run that rank 0 finds finished (or claimed by another process) must stop every rank:
    one left behind would wait at the next barrier."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    first, second = on_two_ranks(decisions, tmp_path)
    assert first == [True, "result r.json is claimed"] and second == [True, "rank 0 stopped: result r.json is claimed"]
    assert distributed.decided_by_rank0(distributed.Context(), lambda: False) is False
