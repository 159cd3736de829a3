"""`bench sweep`: a grid of runs, each run once even with two sweeps on one results directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from benchmark import sweep as sweep_module
from benchmark.cli import main
from benchmark.errors import BenchError
from benchmark.plan import RunOptions, system_dir
from benchmark.sweep import Point, grid, run_point, sweep, task_options
from tests.conftest import TINY, dataset_args

FAST = ["--set", "schedule.epochs=2", "--set", "experts=[{name: logmel, frame_rate: 2.0}]"]
OVERRIDES = ["schedule.epochs=2", "experts=[{name: logmel, frame_rate: 2.0}]"]


def base(output):
    return RunOptions(system="", dataset="", output=output, dataset_options=dict(TINY), overrides=OVERRIDES)


def results(output):
    return sorted(p.relative_to(output).as_posix() for p in output.glob("*/*/seed-*.json"))


@pytest.mark.slow
def test_a_sweep_runs_the_grid_once_and_skips_finished_runs(tmp_path, capsys):
    args = ["sweep", "--systems", "ranking,cider_relax_no_matching", "--datasets", "synthetic", "--seeds", "1",
            *dataset_args(TINY), *FAST, "--output", str(tmp_path)]
    assert main(args) == 0
    assert "2 runs: 2 ran" in capsys.readouterr().out
    assert len(results(tmp_path)) == 2 and not list(tmp_path.rglob("*.claim"))
    assert main(args) == 0
    assert "2 runs: 2 exists" in capsys.readouterr().out
    # The same points with one more override are other systems, with places of their own.
    assert main([*args, "--set", "optimizer.lr=0.003"]) == 0
    assert "2 runs: 2 ran" in capsys.readouterr().out
    assert len(results(tmp_path)) == 4 and len({path.split("/")[1] for path in results(tmp_path)}) == 4


def test_a_finished_run_with_overrides_is_found_in_its_own_place_and_skipped(tmp_path):
    from benchmark.plugins import get_plugin_manager
    from benchmark.results import Result, write
    from benchmark.runner import plan

    point = Point("ranking", "synthetic", 7)
    on_cpu = replace(base(tmp_path), device="cpu")
    run = plan(replace(on_cpu, system="ranking", dataset="synthetic", seed=7), get_plugin_manager(), "cpu")
    scores = dict.fromkeys(("R@1", "R@5", "R@10", "mAP@10"), 0.5)
    write(run.result, Result(system="ranking", dataset=run.dataset.key, seed=7, config=run.config, overrides=OVERRIDES,
                             metrics={"text_to_audio": scores}))
    status = run_point(point, on_cpu)
    assert status["status"] == "exists"
    assert status["result"] == str(tmp_path / run.dataset.key / system_dir("ranking", OVERRIDES) / "seed-7.json")
    assert system_dir("ranking", OVERRIDES).startswith("ranking-set-")


@pytest.mark.slow
def test_a_live_claim_is_respected_and_a_dead_ones_taken_over(tmp_path):
    import socket

    from benchmark.data import open_dataset
    from benchmark.paths import data_root
    from benchmark.plugins import get_plugin_manager
    from benchmark.results import result_path

    point = Point("ranking", "synthetic", 7)
    dataset = open_dataset(get_plugin_manager(), "synthetic", TINY, data_root())
    claim_file = result_path(tmp_path, dataset.key, system_dir("ranking", OVERRIDES), 7).with_name("seed-7.json.claim")
    claim_file.parent.mkdir(parents=True)
    holder = subprocess.Popen(["sleep", "60"])
    try:
        claim_file.write_text(json.dumps({"host": socket.gethostname(), "pid": holder.pid}))
        assert run_point(point, base(tmp_path))["status"] == "claimed by another run"
    finally:
        holder.kill()
        holder.wait()
    status = run_point(point, base(tmp_path))  # its owner is gone now
    assert status["status"] == "ran" and not claim_file.exists()


@pytest.mark.slow
def test_two_sweeps_on_one_results_directory_never_run_a_point_twice(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    args = [sys.executable, "-m", "benchmark.cli", "sweep", "--systems", "ranking", "--datasets", "synthetic",
            "--seeds", "1,2", *dataset_args(TINY), *FAST, "--output", str(tmp_path)]
    main(["prepare", "--dataset", "synthetic", *dataset_args(TINY)])  # both sweeps find the data ready
    first = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    second = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = [p.communicate(timeout=600) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    ran = sum(err.count(": ran in") + err.count("  ran in") for _, err in outs)
    assert ran == 2, outs  # every point once, across both sweeps
    assert len(results(tmp_path)) == 2 and not list(tmp_path.rglob("*.claim"))
    for path in tmp_path.glob("*/ranking-set-*/seed-*.json"):
        assert json.loads(path.read_text())["seed"] in (1, 2)  # whole, readable result files


@pytest.mark.slow
def test_ray_backend_on_a_local_instance(tmp_path):
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"BENCH_HOME": os.environ["BENCH_HOME"], "HF_HUB_OFFLINE": "1"}})
    try:
        statuses = sweep(grid(["ranking"], ["synthetic"], [1, 2]), base(tmp_path), backend="ray", log=lambda m: None)
    finally:
        ray.shutdown()
    assert sorted(s["status"] for s in statuses) == ["ran", "ran"]
    assert len(results(tmp_path)) == 2

    for status in statuses:  # this machine has no GPU: auto fell back to the CPU, and says so
        assert status["device"] == "cpu" and status["device_fallback"] is True
    for path in tmp_path.glob("*/ranking-set-*/seed-*.json"):
        saved = json.loads(path.read_text())
        assert (saved["device"], saved["device_requested"], saved["device_fallback"]) == ("cpu", "auto", True)


class Ref:
    """A task's result to be (hashable, as Ray's object refs are)."""

    def __init__(self, call):
        self.call = call


class FakeRay:
    """Just enough of ``ray`` for ``sweep(backend="ray")``: records the options the task is
    declared with and runs each task when its result is asked for."""

    exceptions = SimpleNamespace(RayError=RuntimeError)

    def __init__(self, gpus):
        self.gpus, self.declared = gpus, []

    def is_initialized(self):
        return True

    def cluster_resources(self):
        return {"CPU": 8.0, **({"GPU": float(self.gpus)} if self.gpus else {})}

    def remote(self, **options):
        self.declared.append(options)
        return lambda function: SimpleNamespace(remote=lambda *args: Ref(lambda: function(*args)))

    def wait(self, refs, num_returns):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return ref.call()


@pytest.mark.parametrize("device, gpus, wanted", [("auto", 2, 1), ("auto", 0, 0), ("cuda", 1, 1), ("cpu", 4, 0)])
def test_a_ray_task_declares_a_gpu_when_its_run_wants_one(monkeypatch, tmp_path, device, gpus, wanted):
    ray = FakeRay(gpus)
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setattr(sweep_module, "run_point", lambda point, base: {"status": "exists", "device": base.device})
    statuses = sweep(grid(["ranking"], ["synthetic"], [1, 2]), replace(base(tmp_path), device=device), backend="ray",
                     log=lambda message: None)
    assert [s["status"] for s in statuses] == ["exists", "exists"]
    assert ray.declared == [{"num_cpus": 1, "num_gpus": wanted}]


def test_a_ray_sweep_on_cuda_without_gpus_in_the_cluster_is_refused_not_left_waiting():
    with pytest.raises(BenchError, match="--device cuda: the Ray cluster has no GPUs"):
        task_options("cuda", {"CPU": 8.0})


def test_a_point_that_auto_sent_to_the_cpu_says_so_in_its_status_line():
    status = {"status": "ran", "seconds": 3.0, "mAP@10": 0.5, "device": "cpu", "device_fallback": True}
    assert "--device auto found no CUDA device: running on the CPU" in sweep_module._describe(status)
    assert "CPU" not in sweep_module._describe({**status, "device_fallback": False})
