"""Seconds per stage of a run, over all its invocations."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any, Iterator

from benchmark.io import WriteFailed, write_json


class Clock:
    """An interrupted run that resumes adds this invocation's time to the earlier ones',
    kept in ``path`` (written after each stage, and when a stage is interrupted)."""

    def __init__(self, path: Path, write: bool) -> None:
        self.path, self.write = path, write
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = {}
        self.invocations = int(saved.get("invocations", 0)) + 1
        self.seconds: dict[str, float] = {k: float(v) for k, v in saved.get("seconds", {}).items()}

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        tick, failed = time.perf_counter(), True
        try:
            yield
            failed = False
        finally:
            elapsed = time.perf_counter() - tick
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            self.seconds["total"] = self.seconds.get("total", 0.0) + elapsed
            # After a failure (a full disk, say) the stage's own error is the one to report.
            with contextlib.suppress(*((WriteFailed,) if failed else ())):
                if self.write:
                    write_json(self.path, {"invocations": self.invocations, "seconds": self.seconds})

    def record(self) -> dict[str, Any]:
        """The result's ``timings_s``: seconds per stage and in all, and how many invocations."""
        return {**{k: round(v, 3) for k, v in self.seconds.items()}, "invocations": self.invocations}
