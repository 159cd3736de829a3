"""Running under ``torchrun``: the process group, the global batch, and gathering with gradients.

``torchrun --nproc-per-node N -m benchmark.cli run …`` starts N copies of ``bench run``;
each finds ``RANK``/``WORLD_SIZE`` in its environment and joins the process group (NCCL on
CUDA, gloo on CPU). Training then sees one *global* batch of ``batch_size`` clips, drawn
by every rank from the same seeded generator; rank ``r`` embeds its slice, and
:func:`gather` concatenates the slices of all ranks in rank order, so the loss is computed
on exactly the batch a single process would have drawn (the CIDEr relaxation looks c_ij
up by global clip index). :func:`gather` keeps the autograd graph: its backward sums the
gradient every rank computed for a slice and hands each rank its own part, and
DistributedDataParallel then averages parameter gradients over ranks. Each rank computes
the same global loss, so the result equals the single-process gradient.

Everything else is done once, by rank 0 (result files, checkpoints, logs), behind
:func:`barrier` where the others must wait. Two timeouts apply: collectives (the training
steps) fail after ``BENCH_DIST_TIMEOUT_MINUTES``; a barrier, where the ranks may wait for
hours while rank 0 prepares data and caches, after ``BENCH_DIST_WAIT_MINUTES``.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import torch
import torch.distributed as dist

from benchmark.errors import BenchError


#: Minutes a collective (a training step's all-gather, DDP's all-reduce) may wait for the
#: other ranks before the job fails; the process group's timeout.
TIMEOUT_VARIABLE, TIMEOUT_DEFAULT = "BENCH_DIST_TIMEOUT_MINUTES", 120.0
#: Minutes a rank waits at a :func:`barrier`, e.g. while rank 0 alone downloads a dataset,
#: computes CIDEr or packs a cache.
WAIT_VARIABLE, WAIT_DEFAULT = "BENCH_DIST_WAIT_MINUTES", 720.0


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` of the
    ``local_world_size`` processes on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """Rank 0 writes results, checkpoints and logs."""
        return self.rank == 0


def resolve_device(name: str) -> torch.device:
    """The device ``--device`` names (``auto``: CUDA when torch sees one)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("--device cuda: no CUDA device is available to torch here; use --device cpu")
    if name not in ("cpu", "cuda"):
        raise BenchError(f"--device {name!r}: choose auto, cpu or cuda")
    return torch.device(name)


def from_environment() -> Context:
    """The context ``torchrun`` describes in the environment (a single process without it)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", str(local_rank + 1)))
    return Context(int(os.environ.get("RANK", "0")), world_size, local_rank, local_world_size)


def minutes(variable: str, default: float) -> timedelta:
    """The duration the environment ``variable`` gives in minutes (``default`` when unset)."""
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return timedelta(minutes=default)
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise BenchError(f"{variable}={raw!r} is not a positive number of minutes; set e.g. {variable}={default:g} or unset it")
    return timedelta(minutes=value)


def device_for(context: Context, device_count: int) -> torch.device:
    """This rank's GPU among the ``device_count`` it sees: the only one when the launcher gives
    each process its own GPU (SLURM ``--gpus-per-task=1``, one device in CUDA_VISIBLE_DEVICES),
    else the ``LOCAL_RANK``-th when the node's GPUs are visible to each of its processes."""
    if device_count == 1:
        return torch.device("cuda", 0)
    if device_count >= context.local_world_size and context.local_rank < device_count:
        return torch.device("cuda", context.local_rank)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    raise BenchError(
        f"LOCAL_RANK {context.local_rank} of {context.local_world_size} processes on this node sees {device_count} GPU(s) "
        f"(CUDA_VISIBLE_DEVICES {visible}); give each process one GPU, or every process all of the node's GPUs "
        "with at most one process per GPU"
    )


def setup(context: Context, device: torch.device) -> torch.device:
    """Join the process group when running under torchrun; return this rank's device."""
    if not context.distributed:
        return device
    minutes(WAIT_VARIABLE, WAIT_DEFAULT)  # a bad value fails now, not at the first barrier
    if device.type == "cuda":
        device = device_for(context, torch.cuda.device_count())
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        timeout = minutes(TIMEOUT_VARIABLE, TIMEOUT_DEFAULT)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timeout)
        _Barriers.passed = 0
    if dist.get_world_size() != context.world_size:
        raise BenchError(f"WORLD_SIZE is {context.world_size} but the process group has {dist.get_world_size()} ranks")
    return device


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _Barriers.passed = 0


def _joined() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class _Barriers:
    """How many barriers this process has passed in its process group: every rank passes
    the same ones in the same order, so the count names the barrier in the store."""

    passed = 0


def barrier() -> None:
    """Wait until every rank arrives here (nothing in a single process).

    It counts arrivals in the process group's key-value store rather than running a
    collective: ranks wait here while rank 0 alone downloads, verifies, computes CIDEr or
    packs caches, which can take hours, while a collective (NCCL's watchdog included) fails
    after the process group's timeout and an NCCL barrier holds a GPU stream the whole time.
    A store wait takes its own timeout (BENCH_DIST_WAIT_MINUTES) and uses no GPU.
    """
    if not _joined():
        return
    _Barriers.passed += 1
    store = dist.distributed_c10d._get_default_store()
    key = f"bench/barrier/{_Barriers.passed}"
    if store.add(key, 1) == dist.get_world_size():  # the last to arrive opens it
        store.set(f"{key}/open", "1")
    _wait(store, f"{key}/open", f"at barrier {_Barriers.passed}")


def _wait(store: dist.Store, key: str, where: str) -> None:
    """Wait for ``key`` in the store for BENCH_DIST_WAIT_MINUTES, then stop with a message."""
    wait = minutes(WAIT_VARIABLE, WAIT_DEFAULT)
    try:
        store.wait([key], wait)
    except dist.DistStoreError:
        raise BenchError(
            f"rank {dist.get_rank()} waited {wait.total_seconds() / 60:g} minutes {where} for the "
            f"other ranks; if rank 0 is still preparing data or caches, raise {WAIT_VARIABLE}"
        ) from None


def decided_by_rank0(context: Context, decide: Callable[[], bool]) -> bool:
    """Rank 0 calls ``decide``; every rank gets its answer (or its error), so ranks that must
    stop or go on together do. Shared through the store, with the barrier's wait."""
    if not context.distributed or not _joined():
        return decide()
    _Barriers.passed += 1  # a name no barrier uses
    store = dist.distributed_c10d._get_default_store()
    key = f"bench/decision/{_Barriers.passed}"
    if context.main:
        try:
            answer = decide()
        except BenchError as exc:
            store.set(key, json.dumps({"error": str(exc)}))
            raise
        store.set(key, json.dumps({"answer": bool(answer)}))
        return answer
    _wait(store, key, "for rank 0's decision")
    shared = json.loads(store.get(key))
    if "error" in shared:
        raise BenchError(f"rank 0 stopped: {shared['error']}")
    return bool(shared["answer"])


def check_shared(context: Context, directories: dict[str, Path]) -> None:
    """Stop every rank unless all of them see the same ``directories`` (description → path).

    Every rank reads what rank 0 alone writes there (the prepared data, the packed cache,
    ``last.pt`` and the selected checkpoint), so on several nodes these must be on shared
    storage; otherwise a rank would silently train from, or resume with, other files. Rank 0
    writes a file named by a random token into each, and each rank reports what it sees.
    """
    if not context.distributed or not _joined():
        return
    store = dist.distributed_c10d._get_default_store()
    key = f"bench/shared/{_Barriers.passed}"  # unique: barriers follow
    name = ""
    if context.main:
        name = f".bench-shared-{secrets.token_hex(8)}"
        for directory in directories.values():
            directory.mkdir(parents=True, exist_ok=True)
            (directory / name).write_text(socket.gethostname())
        store.set(f"{key}/name", name)
    barrier()
    name = store.get(f"{key}/name").decode()
    missing = [what for what, directory in directories.items() if not (directory / name).is_file()]
    store.set(f"{key}/rank{context.rank}", json.dumps([socket.gethostname(), missing]))
    barrier()
    if context.main:
        for directory in directories.values():
            (directory / name).unlink(missing_ok=True)
    for rank in range(context.world_size):
        host, missing = json.loads(store.get(f"{key}/rank{rank}"))
        if missing:
            what = missing[0]
            raise BenchError(
                f"the {what} {directories[what]} is not shared: rank {rank} (on {host}) does not see the file rank 0 wrote "
                "there; it must be on storage shared by all nodes, or run on one node"
            )


def local_slice(context: Context, global_batch: int) -> slice:
    """The part of a global batch this rank embeds; the global batch must split evenly."""
    if global_batch % context.world_size:
        raise BenchError(
            f"batch_size {global_batch} does not split evenly over {context.world_size} ranks; "
            f"choose a multiple of {context.world_size} (--set batch_size=...)"
        )
    size = global_batch // context.world_size
    return slice(context.rank * size, (context.rank + 1) * size)


class _Gather(torch.autograd.Function):
    """All-gather along dim 0 whose backward returns the summed gradient of this rank's slice.

    The backward uses all_reduce (supported by every backend, gloo included) on the whole
    gathered gradient rather than reduce_scatter (NCCL only); the tensors are embeddings, small.
    """

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        ctx.rank, ctx.rows = dist.get_rank(), tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank in rank order, gradients flowing back (identity
    in a single process). Every rank must pass the same shape."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    return _Gather.apply(tensor)
