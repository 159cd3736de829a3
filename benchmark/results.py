"""Result files: one JSON per (dataset, system, seed), written atomically, never overwritten
silently. Their layout is ``<results>/<dataset>/<system>/seed-<N>.json``; the leaderboard
is generated from them.
"""

from __future__ import annotations

import contextlib
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field

from benchmark.errors import BenchError

SCHEMA = 1
PACKAGES = ("audio-retrieval-bench", "torch", "numpy", "sentence-transformers", "transformers", "pluggy")


def result_path(results_dir: Path, dataset: str, system: str, seed: int) -> Path:
    return results_dir / dataset / system / f"seed-{seed}.json"


def run_dir(results_dir: Path, dataset: str, system: str, seed: int) -> Path:
    """Checkpoints and training history of one run, beside its result file."""
    return results_dir / dataset / system / f"seed-{seed}.run"


class Claimed(BenchError):
    """Another live process is producing this result."""


@contextlib.contextmanager
def claim(result: Path) -> Iterator[None]:
    """Own the run behind ``result`` for the block: ``<result>.claim`` is created exclusively
    (``O_EXCL``, atomic on local and NFS filesystems), so two processes never train the same
    result at once. A claim left by a killed process on this host is taken over; a live
    one raises :class:`Claimed` naming its holder. The claim is removed when the block ends."""
    from benchmark.io import create_exclusive, holder_alive

    path = result.with_name(result.name + ".claim")
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = create_exclusive(path)
    if not mine and not holder_alive(path):  # its owner was killed: take the claim over
        path.unlink(missing_ok=True)
        mine = create_exclusive(path)
    if not mine:
        who = "another process"
        for _ in range(20):  # the holder writes its pid just after creating the file
            try:
                holder = json.loads(path.read_text())
                who = f"process {holder.get('pid')} on {holder.get('host')}"
                break
            except (OSError, ValueError):
                time.sleep(0.05)
        raise Claimed(
            f"result {result} is being produced by {who} (claim {path}); wait for it to finish, "
            "or delete the claim file if that process is gone"
        )
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


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


def read(path: Path) -> dict[str, Any]:
    """The result file at ``path``; one that is cut short, not JSON or not a bench result
    (missing a key the leaderboard and re-runs read) raises a line naming it."""
    from pydantic import ValidationError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        _Summary.model_validate(data)
    except (OSError, ValueError) as exc:  # JSON, UTF-8 and schema errors are ValueErrors
        if isinstance(exc, ValidationError):
            error = exc.errors()[0]
            reason = f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
        else:
            reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise BenchError(
            f"result file {path} is not a readable bench result ({reason}); move it aside, "
            "or re-run its bench run with --force to replace it"
        ) from None
    return dict(data)


class _Ranking(BaseModel):
    """The scores every result carries, by the DCASE names."""

    model_config = ConfigDict(extra="allow", populate_by_name=False)
    r1: float = Field(alias="R@1")
    r5: float = Field(alias="R@5")
    r10: float = Field(alias="R@10")
    map10: float = Field(alias="mAP@10")


class _Metrics(BaseModel):
    model_config = ConfigDict(extra="allow")
    text_to_audio: _Ranking


class _Summary(BaseModel):
    """What of a result file the leaderboard and a re-run read."""

    model_config = ConfigDict(extra="allow")
    schema_: Literal[1] = Field(alias="schema")  # SCHEMA
    system: str
    dataset: str
    seed: int
    config: dict[str, Any] = Field(default_factory=dict)
    metrics: _Metrics


def iter_results(results_dir: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every result file under ``results_dir``; unreadable ones raise naming the file."""
    for path in sorted(results_dir.glob("*/*/seed-*.json")):
        yield path, read(path)
