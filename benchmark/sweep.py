"""Sweeps: every system × dataset × seed of a grid, each run at most once.

A grid point whose result file exists is skipped. Before running a point, a process
*claims* it by creating ``<result>.claim`` exclusively (``O_EXCL``, atomic on local and
NFS filesystems), so two sweeps started on the same results directory never run the same
point twice; the claim is removed when the run ends. A claim left by a process that died
(same host, pid gone) is taken over. Runs write their result files atomically, so an
interrupted sweep loses at most the runs in flight, and running it again resumes.

Backends: ``local`` runs the points one after another in this process; ``ray`` sends
each point to a Ray cluster as a task (``pip install 'audio-retrieval-bench[ray]'``;
results, data and caches must then live on storage every node sees).
"""

from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

from benchmark.errors import BenchError
from benchmark.io import create_exclusive, holder_alive
from benchmark.runner import RunOptions


@dataclass(frozen=True)
class Point:
    system: str
    dataset: str
    seed: int

    def __str__(self) -> str:
        return f"{self.system} on {self.dataset}, seed {self.seed}"


def grid(systems: list[str], datasets: list[str], seeds: list[int]) -> list[Point]:
    return [Point(s, d, seed) for s, d, seed in itertools.product(systems, datasets, seeds)]


@contextlib.contextmanager
def claim(result: Path) -> Iterator[bool]:
    """Yield True if this process now owns the run behind ``result`` (False if another does)."""
    path = result.with_name(result.name + ".claim")
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = create_exclusive(path)
    if not mine and not holder_alive(path):  # its owner was killed: take the claim over
        path.unlink(missing_ok=True)
        mine = create_exclusive(path)
    try:
        yield mine
    finally:
        if mine:
            path.unlink(missing_ok=True)


def run_point(point: Point, base: RunOptions) -> dict[str, Any]:
    """Run one grid point unless its result exists or another process holds it."""
    from benchmark.data import open_dataset
    from benchmark.paths import data_root
    from benchmark.plugins import get_plugin_manager
    from benchmark.results import result_path
    from benchmark.runner import run

    options = replace(base, system=point.system, dataset=point.dataset, seed=point.seed)
    dataset = open_dataset(get_plugin_manager(), point.dataset, options.dataset_options, options.data_root or data_root())
    target = result_path(options.output, dataset.key, point.system, point.seed)
    status = {"system": point.system, "dataset": point.dataset, "seed": point.seed, "result": str(target)}
    if target.exists():
        return {**status, "status": "exists"}
    with claim(target) as mine:
        if not mine:
            return {**status, "status": "claimed by another sweep"}
        if target.exists():  # finished by another sweep between our check and the claim
            return {**status, "status": "exists"}
        started = time.perf_counter()
        try:
            _, result = run(options, log=lambda message: None)
        except BenchError as exc:
            return {**status, "status": "failed", "error": str(exc)}
        return {**status, "status": "ran", "seconds": round(time.perf_counter() - started, 1),
                "mAP@10": result["metrics"]["text_to_audio"]["mAP@10"]}


def sweep(points: list[Point], base: RunOptions, backend: str = "local", address: str | None = None,
          log: Any = print) -> list[dict[str, Any]]:
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


def _sweep_ray(points: list[Point], base: RunOptions, address: str | None, log: Any) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise BenchError("--backend ray needs Ray: pip install 'audio-retrieval-bench[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, log_to_driver=False)
    try:
        task = ray.remote(num_cpus=1)(run_point)
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
    if status["status"] == "ran":
        return f"ran in {status['seconds']:.0f} s, mAP@10 {status['mAP@10']:.3f}"
    if status["status"] == "failed":
        return f"failed: {status['error']}"
    return status["status"]
