"""Third-party discovery: install the example plugin distribution and use it from the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY, dataset_args

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bench-expert-example"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example installed as a separate distribution, visible through PYTHONPATH only."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True,
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]))
    return env


def bench(env, *args):
    return subprocess.run([sys.executable, "-m", "benchmark.cli", *map(str, args)], env=env, capture_output=True, text=True)


def test_bench_list_shows_the_plugin_and_its_distribution(installed):
    done = bench(installed, "list", "experts")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("spectral_stats"))
    assert "bench-expert-example" in line
    assert "spectral_stats" not in bench(dict(os.environ), "list", "experts").stdout  # only when installed


def test_a_run_uses_the_plugins_expert(installed, tmp_path):
    done = bench(installed, "run", "--system", "example_ranking", "--dataset", "synthetic", *dataset_args(TINY),
                 "--set", "schedule.epochs=2", "--set", "batch_size=8", "--output", tmp_path)
    assert done.returncode == 0, done.stderr
    (path,) = tmp_path.glob("*/example_ranking/seed-0.json")
    result = json.loads(path.read_text())
    assert result["config"]["experts"] == [{"name": "spectral_stats", "frame_rate": 10.0}]
    assert result["config"]["inherits"] == ["ranking", "cider_relax"]
    cache = Path(os.environ["BENCH_HOME"]) / "cache" / "experts" / "spectral_stats"
    assert len(list(cache.rglob("COMPLETE"))) == 3
