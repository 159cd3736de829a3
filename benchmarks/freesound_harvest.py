"""What harvesting ~500K Freesound descriptions costs in requests, days and disk, and how
the harvest's bookkeeping (pages cached, resume) behaves at that size (issue 18's target).

    python -m benchmarks.freesound_harvest [RECORDS]     (from the repository root)

1. Through HTTP: 3,000 records from the stand-in (tests/plugins/datasets/freesound/standin.py),
   20 pages of 150, harvested with a fake clock; the disk the cached pages and
   ``descriptions.jsonl`` take per 1,000 descriptions.
2. At full size (RECORDS, default 500,000): the same harvest code with a client that makes
   each page from the stand-in's record generator instead of asking a server, spread over
   "days" of 2,000 requests (the standard daily limit, as ``max_requests``); the wall time
   of each run, of the resume scan that starts it, and of writing ``descriptions.jsonl``.

Prints one JSON line. About a minute on a quiet 2-core CPU, and 1 GB of temporary disk at
500K records.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path

from bench_plugins.datasets.freesound.api import PER_DAY, PER_MINUTE, FreesoundClient, Page, Timer
from bench_plugins.datasets.freesound.harvest import DESCRIPTIONS, HarvestOptions, harvest, write_descriptions
from tests.plugins.datasets.freesound.standin import make_records, serve_freesound

PAGE_SIZE = 150


class FakeTime:
    """A clock that moves only when the client sleeps (no real waiting)."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def disk(folder: Path) -> tuple[int, int]:
    """Bytes in the files under ``folder``, and the bytes their blocks take on disk."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files), sum(p.stat().st_blocks * 512 for p in files)


def through_http(root: Path) -> dict:
    n = 3000
    clock = FakeTime()
    with serve_freesound(make_records(n, seed=0), token="bench") as api:
        options = HarvestOptions(base_url=api.url)
        client = FreesoundClient(api.url, "bench", timer=Timer(clock.now, clock.sleep))
        start = time.perf_counter()
        state = harvest(options, root, lambda line: None, client)
        seconds = time.perf_counter() - start
    size, blocks = disk(root / "pages")
    return {
        "records": state.records, "pages": state.pages, "requests": state.requests, "wall_s": round(seconds, 2),
        "rate_limited_s": clock.t,
        "pages_bytes_per_1000": round(size * 1000 / n), "pages_disk_bytes_per_1000": round(blocks * 1000 / n),
        "jsonl_bytes_per_1000": round((root / DESCRIPTIONS).stat().st_size * 1000 / n),
    }


class Generated(FreesoundClient):
    """A client whose pages come from the stand-in's generator: the harvest's code, no server."""

    total: int = 0
    #: When the harvest first asked for a page (what it did before is the resume scan).
    first_call: float | None = None

    def search(self, query: str, page: int, page_size: int = PAGE_SIZE) -> Page | None:
        self.first_call = self.first_call or time.perf_counter()
        self._spend()
        first = (page - 1) * page_size
        if first >= self.total:
            return None
        results = make_records(min(page_size, self.total - first), seed=page, root="http://127.0.0.1:40000",
                               first_id=1000 + 3 * first)
        return Page(self.search_url(query, page, page_size), self.total, first + page_size < self.total, results)


def at_scale(root: Path, n: int) -> dict:
    options = HarvestOptions(base_url="http://127.0.0.1:40000/apiv2", max_requests=PER_DAY)
    days = []
    while True:
        clock = FakeTime()
        client = Generated(options.base_url, "bench", max_requests=PER_DAY, timer=Timer(clock.now, clock.sleep))
        client.total = n
        start = time.perf_counter()
        state = harvest(options, root, lambda line: None, client)
        end = time.perf_counter()
        days.append({"requests": state.requests, "pages": state.pages, "complete": state.complete,
                     "wall_s": round(end - start, 1), "resume_scan_s": round((client.first_call or end) - start, 2),
                     "rate_limited_h": round(clock.t / 3600, 2)})
        if state.complete:
            break
    start = time.perf_counter()
    written = write_descriptions(root, options)
    write_s = time.perf_counter() - start
    size, blocks = disk(root / "pages")
    return {"records": n, "written": written, "days": days, "write_descriptions_s": round(write_s, 1),
            "pages_MB": round(size / 1e6), "pages_disk_MB": round(blocks / 1e6),
            "jsonl_MB": round((root / DESCRIPTIONS).stat().st_size / 1e6)}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
    requests = math.ceil(n / PAGE_SIZE)
    with tempfile.TemporaryDirectory() as tmp:
        http = through_http(Path(tmp) / "http")
        scale = at_scale(Path(tmp) / "scale", n)
    print(json.dumps({
        "cost": {"records": n, "requests": requests, "days_at_2000_a_day": math.ceil(requests / PER_DAY),
                 "hours_at_60_a_minute": round(requests / PER_MINUTE / 60, 2)},
        "http_3000": http, "scale": scale,
    }))


if __name__ == "__main__":
    main()
