"""Sweeps: every system × dataset × seed of a grid, each run at most once.

A grid point whose result file exists is skipped. Every run *claims* its result first
(:func:`benchmark.results.claim`: ``<result>.claim`` created exclusively), so two sweeps,
or a sweep and a ``bench run``, started on the same results directory never run the same
point twice; a point claimed by a live process is skipped. Runs write their result files atomically, so an
interrupted sweep loses at most the runs in flight, and running it again resumes.

Backends: ``local`` runs the points one after another in this process; ``ray`` sends
each point to a Ray cluster as a task (``pip install 'audio-retrieval-bench[ray]'``;
results, data and caches must then live on storage every node sees). A task asks Ray for
one GPU when the run wants one (``--device cuda``, or ``auto`` on a cluster with GPUs),
since Ray hides the GPUs from a task that asks for none; a point that ``auto`` sends to
the CPU says so in its status line and in its result (``device_fallback``).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, replace
from typing import Any, Mapping

from benchmark.context import Log
from benchmark.errors import BenchError
from benchmark.plan import AUTO_FALLBACK, RunOptions, auto_fell_back


@dataclass(frozen=True)
class Point:
    """One run of a sweep's grid."""

    system: str
    dataset: str
    seed: int

    def __str__(self) -> str:
        return f"{self.system} on {self.dataset}, seed {self.seed}"


def grid(systems: list[str], datasets: list[str], seeds: list[int]) -> list[Point]:
    return [Point(s, d, seed) for s, d, seed in itertools.product(systems, datasets, seeds)]


def run_point(point: Point, base: RunOptions) -> dict[str, Any]:
    """Run one grid point unless its result exists (for this configuration: one of another
    configuration is a failure, as for ``bench run``) or another process holds it."""
    from benchmark.distributed import resolve_device
    from benchmark.plugins import get_plugin_manager
    from benchmark.results import Claimed
    from benchmark.runner import plan, run

    options = replace(base, system=point.system, dataset=point.dataset, seed=point.seed)
    status: dict[str, Any] = {"system": point.system, "dataset": point.dataset, "seed": point.seed}
    try:
        device = resolve_device(options.device).type
        status["device"] = device
        if auto_fell_back(options.device, device):
            status["device_fallback"] = True
        target = plan(options, get_plugin_manager(), device).result
    except BenchError as exc:
        return {**status, "status": "failed", "error": str(exc)}
    status["result"] = str(target)
    existed = target.exists()
    started = time.perf_counter()
    try:  # the run claims its result (benchmark.results.claim), or checks the existing one
        _, result = run(options, log=lambda message: None)
        if existed:
            return {**status, "status": "exists"}
    except Claimed:
        return {**status, "status": "claimed by another run"}
    except BenchError as exc:
        return {**status, "status": "failed", "error": str(exc)}
    return {**status, "status": "ran", "seconds": round(time.perf_counter() - started, 1),
            "mAP@10": result.text_to_audio["mAP@10"]}


def sweep(points: list[Point], base: RunOptions, backend: str = "local", address: str | None = None,
          log: Log = print) -> list[dict[str, Any]]:
    """Run ``points`` with ``backend`` (``local`` or ``ray``); one status per point."""
    if backend == "local":
        statuses = []
        for number, point in enumerate(points, start=1):
            log(f"[{number}/{len(points)}] {point}")
            statuses.append(run_point(point, base))
            log(f"  {_describe(statuses[-1])}")
        return statuses
    if backend == "ray":
        return _sweep_ray(points, base, address, log)
    raise BenchError(f"--backend {backend!r}: choose local or ray")


def task_options(device: str, cluster: Mapping[str, float]) -> dict[str, int]:
    """The resources a grid point's Ray task declares: one CPU, and one GPU when the run wants
    one (``--device cuda``, or ``auto`` on a cluster with GPUs: ``cluster`` is
    ``ray.cluster_resources()``). Ray hides the GPUs from a task that declares none, so
    without this ``auto`` would silently run on the CPU, with the system's ``cpu_overrides``."""
    gpus = cluster.get("GPU", 0) > 0
    if device == "cuda" and not gpus:
        raise BenchError("--device cuda: the Ray cluster has no GPUs (ray.cluster_resources()); "
                         "add GPU nodes, or use --device auto or cpu")
    return {"num_cpus": 1, "num_gpus": 1 if device == "cuda" or (device == "auto" and gpus) else 0}


def _sweep_ray(points: list[Point], base: RunOptions, address: str | None, log: Log) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise BenchError("--backend ray needs Ray: pip install 'audio-retrieval-bench[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, log_to_driver=False)
    try:
        task = ray.remote(**task_options(base.device, ray.cluster_resources()))(run_point)
        pending = {task.remote(point, base): point for point in points}
        statuses = []
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            point = pending.pop(done[0])
            try:
                statuses.append(ray.get(done[0]))
            except ray.exceptions.RayError as exc:
                statuses.append({"system": point.system, "dataset": point.dataset, "seed": point.seed,
                                 "status": "failed", "error": str(exc).splitlines()[0]})
            log(f"[{len(statuses)}/{len(points)}] {point}: {_describe(statuses[-1])}")
        return statuses
    finally:
        if started_here:
            ray.shutdown()


def _describe(status: dict[str, Any]) -> str:
    """A point's status line; a run that ``--device auto`` sent to the CPU says so."""
    if status["status"] == "ran":
        line = f"ran in {status['seconds']:.0f} s, mAP@10 {status['mAP@10']:.3f}"
        return f"{line}; {AUTO_FALLBACK}" if status.get("device_fallback") else line
    if status["status"] == "failed":
        return f"failed: {status['error']}"
    return status["status"]
