"""A new expert package is its own folder: a sixth, throwaway one, written into a temporary
checkout layout, is found by ``bench list`` once installed, and its own tests, a few lines
on :mod:`benchmark.testing`, run from its folder under the checkout's pytest settings."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from benchmark.testing import ExpertContract

ROOT = Path(__file__).resolve().parents[1]

#: The whole package, file by file: what a real one adds under plugins/experts/<name>/.
PACKAGE = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "bench-expert-throwaway"
        version = "0.0.1"
        dependencies = ["audio-retrieval-bench"]

        [project.entry-points.bench]
        throwaway = "bench_throwaway"

        [tool.setuptools]
        packages = ["bench_throwaway"]
    """,
    "bench_throwaway/__init__.py": """
        from benchmark.api import hookimpl


        @hookimpl
        def register_experts(register):
            register("throwaway", "bench_throwaway.expert:Loudness", description="RMS and peak per 100 ms")
    """,
    "bench_throwaway/expert.py": """
        import numpy as np

        from benchmark.api import Expert


        class Loudness(Expert):
            sample_rate, dim = 16000, 2

            def __init__(self, hop: int = 1600):
                self.hop = int(hop)

            def settings(self):
                return {"hop": self.hop}

            def embed(self, waveforms):
                out = []
                for waveform in waveforms:
                    n = max(1, -(-len(waveform) // self.hop))
                    frames = np.resize(np.asarray(waveform, np.float32), n * self.hop).reshape(n, self.hop)
                    out.append(np.stack([np.sqrt((frames**2).mean(1)), np.abs(frames).max(1)], 1).astype(np.float32))
                return out
    """,
    "tests/test_throwaway.py": """
        from bench_throwaway.expert import Loudness

        from benchmark.testing import ExpertContract


        class TestLoudness(ExpertContract):
            expert_class = Loudness
            frame_rate, dim = 10.0, 2


        def test_a_louder_clip_has_louder_frames():
            quiet, loud = Loudness().embed([[0.1] * 3200, [0.5] * 3200])
            assert (loud > quiet).all()
    """,
}


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    """A checkout layout holding only the new package, and the package installed into a
    site directory of its own (on ``PYTHONPATH`` for the commands below)."""
    root = tmp_path_factory.mktemp("checkout")
    package = root / "plugins" / "experts" / "throwaway"
    for name, text in PACKAGE.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(textwrap.dedent(text).lstrip())
    site = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(site), str(package)],
        check=True,
    )
    return root, dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))


def test_bench_lists_the_installed_package(checkout):
    _, env = checkout
    done = subprocess.run([sys.executable, "-m", "benchmark.cli", "list", "experts"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("throwaway"))
    assert "bench-expert-throwaway" in line


def test_its_own_tests_run_from_its_folder_under_the_checkouts_settings(checkout):
    """``pytest`` with this checkout's pyproject.toml and no path finds the package's tests
    (testpaths), and the contract's tests run on its expert."""
    root, env = checkout
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(root)]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    contract = [name for name in dir(ExpertContract) if name.startswith("test_")]
    assert re.search(rf"\b{len(contract) + 1} passed\b", done.stdout), done.stdout
