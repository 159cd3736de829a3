"""Shared fixtures. Tests never touch the network or the user's ~/.cache/bench."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

#: A synthetic dataset small enough for seconds-long end-to-end runs.
TINY = {"n_development": 24, "n_validation": 8, "n_evaluation": 8, "min_seconds": 0.5, "max_seconds": 1.0}


@pytest.fixture(scope="session", autouse=True)
def bench_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One BENCH_HOME per test session, so generated data and caches are shared between tests."""
    home = tmp_path_factory.mktemp("bench-home")
    os.environ["BENCH_HOME"] = str(home)
    return home


def dataset_args(options: dict) -> list[str]:
    return [arg for key, value in options.items() for arg in ("-D", f"{key}={value}")]
