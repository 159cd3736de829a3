"""Where bench keeps data, caches and results by default."""

from __future__ import annotations

import os
from pathlib import Path

from benchmark.errors import BenchError


#: Where a run writes its result by default: git-ignored, the user's own.
RESULTS = Path("results")
#: The committed record behind ``leaderboard/README.md``; runs land here only when asked to.
RECORD = Path("leaderboard/results")
#: The committed leaderboard, generated from :data:`RECORD`.
LEADERBOARD = Path("leaderboard/README.md")


def home() -> Path:
    """``$BENCH_HOME``, else ``~/.cache/bench``: datasets and embedding caches live here."""
    return Path(os.environ.get("BENCH_HOME") or Path.home() / ".cache" / "bench")


def data_root() -> Path:
    return home() / "datasets"


def mined_root() -> Path:
    """``$BENCH_HOME/mined``: what ``bench mine`` gathers, one directory per miner."""
    return home() / "mined"


def cache_root() -> Path:
    return home() / "cache"


def ensure_writable(directory: Path, what: str) -> Path:
    """Create ``directory`` and prove it writable now, before hours of work depend on it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BenchError(f"{what} {directory} is not writable ({exc.strerror}); choose another with the option or fix permissions") from exc
    return directory
