"""Third-party discovery: install the example plugin distribution and use it from the CLI."""

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY, dataset_args

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "bench-expert-example"


#: Runs bench with only the site directories named in BENCH_TEST_SITES (``-S``: none else).
BOOT = (
    "import os, runpy, site, sys\n"
    "for directory in os.environ['BENCH_TEST_SITES'].split(os.pathsep): site.addsitedir(directory)\n"
    "sys.argv[0] = 'bench'\n"
    "runpy.run_module('benchmark.cli', run_name='__main__')\n"
)


@pytest.fixture(scope="module")
def without_example(tmp_path_factory):
    """The test environment's packages minus any copy of the example installed there, so
    the tests see only the copy they install, whatever the environment holds."""
    overlay = tmp_path_factory.mktemp("site-without-example")
    for directory in site.getsitepackages():
        for entry in Path(directory).iterdir():
            name = entry.name.lower().replace("-", "_")
            if "bench_expert_example" not in name and not (overlay / entry.name).exists():
                (overlay / entry.name).symlink_to(entry)
    return dict(os.environ, BENCH_TEST_SITES=str(overlay))


@pytest.fixture(scope="module")
def installed(tmp_path_factory, without_example):
    """The example installed as a separate distribution, in a site directory of its own."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        check=True,
    )
    return dict(without_example, BENCH_TEST_SITES=os.pathsep.join([without_example["BENCH_TEST_SITES"], str(target)]))


def bench(env, *args):
    return subprocess.run([sys.executable, "-S", "-c", BOOT, *map(str, args)], env=env, capture_output=True, text=True)


def test_bench_list_shows_the_plugin_and_its_distribution(installed, without_example):
    done = bench(installed, "list", "experts")
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("spectral_stats"))
    assert "bench-expert-example" in line
    assert "spectral_stats" not in bench(without_example, "list", "experts").stdout  # only when installed


def test_a_run_uses_the_plugins_expert(installed, tmp_path):
    done = bench(installed, "run", "--system", "example_ranking", "--dataset", "synthetic", *dataset_args(TINY),
                 "--set", "schedule.epochs=2", "--set", "batch_size=8", "--output", tmp_path)
    assert done.returncode == 0, done.stderr
    (path,) = tmp_path.glob("*/example_ranking-set-*/seed-0.json")
    result = json.loads(path.read_text())
    assert result["config"]["experts"] == [{"name": "spectral_stats", "frame_rate": 10.0}]
    assert result["config"]["inherits"] == ["ranking", "cider_relax"]
    cache = Path(os.environ["BENCH_HOME"]) / "cache" / "experts" / "spectral_stats"
    assert len(list(cache.rglob("COMPLETE"))) == 3
