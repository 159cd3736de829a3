"""Result files: one JSON per (dataset, system, seed), written atomically, never overwritten
silently. Their layout is ``<results>/<dataset>/<system>/seed-<N>.json``; the leaderboard
is generated from them.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any, Iterator

from benchmark.errors import BenchError

SCHEMA = 1
PACKAGES = ("audio-retrieval-bench", "torch", "numpy", "sentence-transformers", "transformers", "pluggy")


def result_path(results_dir: Path, dataset: str, system: str, seed: int) -> Path:
    return results_dir / dataset / system / f"seed-{seed}.json"


def run_dir(results_dir: Path, dataset: str, system: str, seed: int) -> Path:
    """Checkpoints and training history of one run, beside its result file."""
    return results_dir / dataset / system / f"seed-{seed}.run"


def environment() -> dict[str, Any]:
    """Package versions and the git commit, so a number can be traced to the code behind it."""
    import importlib.metadata

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions, "git_commit": git_commit()}


def git_commit() -> str | None:
    """The commit of the checkout this package runs from, with ``+dirty`` for local changes
    to tracked files other than the leaderboard and its record (data, not code)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", ":!/leaderboard"],
            cwd=here, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def iter_results(results_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every result file under ``results_dir``; unreadable ones raise naming the file."""
    for path in sorted(results_dir.glob("*/*/seed-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise BenchError(f"result file {path} is unreadable ({exc}); move it aside and re-run") from exc
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise BenchError(f"result file {path} is not a bench result (schema {SCHEMA})")
        yield path, data
