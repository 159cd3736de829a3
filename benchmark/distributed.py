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
:func:`barrier` where the others must wait.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from benchmark.errors import BenchError


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

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
    return Context(int(os.environ.get("RANK", "0")), world_size, int(os.environ.get("LOCAL_RANK", "0")))


def setup(context: Context, device: torch.device) -> torch.device:
    """Join the process group when running under torchrun; return this rank's device."""
    if not context.distributed:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.get_world_size() != context.world_size:
        raise BenchError(f"WORLD_SIZE is {context.world_size} but the process group has {dist.get_world_size()} ranks")
    return device


def teardown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


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
