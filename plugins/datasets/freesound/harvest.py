"""The resumable harvest of Freesound sound descriptions: every search page is cached as
it arrives, so a harvest spread over days (a standard key allows 2,000 requests a day)
continues where the last run stopped, and a kill loses at most the page in flight.

Layout under the harvest directory::

    pages/<query key>/query.json       the query and page size the pages were fetched with
    pages/<query key>/page-<n>.json    page n: {"url", "page", "count", "next", "results"}
    descriptions.jsonl                 every harvested record once (shared harvest format)

Pages are fetched oldest sounds first (``created_asc``), so cached pages stay valid while
new sounds are uploaded. A sound deleted during a harvest shifts later results one place
back, so a resumed harvest may miss a sound per deletion and sees some twice; duplicates
are kept once. :func:`read_dump` reads a local dump instead, for users who have one.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import filelock

from benchmark.api import BenchError, atomic_path, stable_hash, write_json, write_text

from .api import MAX_PAGE_SIZE, PER_DAY, PER_MINUTE, FIELDS, FreesoundClient, HarvestPaused, harvest_record

#: The file of all harvested records, in the harvest directory.
DESCRIPTIONS = "descriptions.jsonl"
#: How often (in pages) a harvest says how far it is.
LOG_EVERY = 100
_PAGE_FILE = re.compile(r"page-(\d+)\.json")


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class HarvestOptions:
    """What to harvest and how fast; the miner passes its options through as these.

    - ``queries``: the text searches to harvest in full, in order; ``""`` (the default,
      alone) is every sound on Freesound. A single string is one query.
    - ``page_size``: results per request, 1 to 150 (150, Freesound's largest, takes fewest
      requests). Part of the cache key: pages fetched with another size are not reused.
    - ``max_requests``: the requests one run may send (None: no budget); when spent, the
      run stops cleanly and a later run continues. 2,000 is a standard key's daily limit.
    - ``per_minute``: requests per minute at most (60, the standard limit).
    - ``base_url``: the API's base URL; None takes ``FREESOUND_API_URL``, else
      https://freesound.org/apiv2 (set it for a mirror or a test stand-in).
    """

    queries: tuple[str, ...] = ("",)
    page_size: int = MAX_PAGE_SIZE
    max_requests: int | None = PER_DAY
    per_minute: float = PER_MINUTE
    base_url: str | None = None

    def __post_init__(self) -> None:
        queries = (self.queries,) if isinstance(self.queries, str) else tuple(self.queries)
        if not queries or not all(isinstance(q, str) for q in queries):
            raise BenchError(f"harvest option queries={self.queries!r} must be one or more strings ('' for every sound)")
        object.__setattr__(self, "queries", tuple(dict.fromkeys(q.strip() for q in queries)))
        if not (_integer(self.page_size) and 1 <= self.page_size <= MAX_PAGE_SIZE):
            raise BenchError(f"harvest option page_size={self.page_size!r} must be an integer from 1 to {MAX_PAGE_SIZE}")
        if self.max_requests is not None and not (_integer(self.max_requests) and self.max_requests >= 1):
            raise BenchError(f"harvest option max_requests={self.max_requests!r} must be a positive integer "
                             "(or None: no budget)")
        if not (_integer(self.per_minute) or isinstance(self.per_minute, float)) or not self.per_minute > 0:
            raise BenchError(f"harvest option per_minute={self.per_minute!r} must be a positive number of requests")

    def client(self) -> FreesoundClient:
        """A client with these options' rate, budget and base URL (the token from the environment)."""
        return FreesoundClient(self.base_url or "", per_minute=float(self.per_minute), max_requests=self.max_requests)


@dataclass
class HarvestState:
    """Where a harvest stands after a run: the pages and records cached (over all queries,
    duplicates counted), whether every query's last page is cached, the requests this run
    sent, and why it stopped early ("" when complete)."""

    directory: Path
    pages: int = 0
    records: int = 0
    complete: bool = False
    requests: int = 0
    message: str = ""
    #: Pages cached per query key.
    queries: dict[str, int] = field(default_factory=dict)


def query_key(query: str, page_size: int) -> str:
    """The cache folder name of ``query``'s pages at ``page_size``: readable and unique."""
    slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-")[:40] or "all"
    return f"{slug}-{stable_hash({'query': query, 'page_size': page_size, 'sort': 'created_asc'}, 8)}"


def _cached_pages(folder: Path) -> int:
    """How many pages are cached in ``folder``: pages 1…k all present."""
    present = {int(m.group(1)) for p in folder.glob("page-*.json") if (m := _PAGE_FILE.fullmatch(p.name))}
    k = 0
    while k + 1 in present:
        k += 1
    return k


def _read_page(path: Path) -> dict:
    """A cached page; a damaged one is a one-line error saying to delete it (it is fetched again)."""
    try:
        page = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(page, dict) or not isinstance(page.get("results"), list):
            raise ValueError("no results list")
    except (OSError, ValueError) as exc:
        raise BenchError(f"cached Freesound page {path} is unreadable ({exc}); delete it and run again "
                         "to fetch it again") from None
    return page


@dataclass
class _Query:
    """One query's cache folder and its bookkeeping while a harvest runs."""

    query: str
    folder: Path
    pages: int = 0
    records: int = 0
    complete: bool = False
    count: int | None = None

    def scan(self) -> None:
        """Read what earlier runs cached: pages, records, whether the last page came."""
        self.pages = _cached_pages(self.folder)
        self.records, last = 0, None
        for n in range(1, self.pages + 1):
            last = _read_page(self.folder / f"page-{n}.json")
            self.records += len(last["results"])
        if last is not None:
            self.complete, self.count = not last.get("next"), last.get("count")


def harvest(options: HarvestOptions, directory: Path, log: Callable[[str], None] = print,
            client: FreesoundClient | None = None) -> HarvestState:
    """Harvest every query of ``options`` into ``directory``, continuing after the pages
    earlier runs cached; write ``descriptions.jsonl`` once every query is complete.

    A spent budget or Freesound's daily limit stops it cleanly: the state says so
    (``complete`` False, ``message`` why and what to do) and a later call continues.
    ``client`` replaces the one built from ``options`` (tests pass fake timers); none is
    built, and no token needed, when the cached pages already complete every query.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(directory / ".harvest.lock")
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise BenchError(f"another Freesound harvest is writing to {directory}; wait for it to finish "
                         "(or use another directory)") from None
    except OSError as exc:
        raise BenchError(f"cannot harvest into {directory} ({exc.strerror or exc}); make it writable "
                         "or use another directory") from None
    try:
        return _harvest(options, directory, log, client)
    finally:
        lock.release()


def _harvest(options: HarvestOptions, directory: Path, log: Callable[[str], None],
             client: FreesoundClient | None) -> HarvestState:
    """:func:`harvest`, holding the directory's lock; the client (and so the token) is
    needed only when a query is not complete."""
    state = HarvestState(directory)
    queries = [_Query(q, directory / "pages" / query_key(q, options.page_size)) for q in options.queries]
    for query in queries:
        query.scan()
    if not all(q.complete for q in queries):
        client = client or options.client()
        try:
            for query in queries:
                if not query.complete:
                    _harvest_query(query, options, client, log)
        except HarvestPaused as paused:
            state.message = _paused_message(str(paused), queries, options, directory)
            log(state.message)
        state.requests = client.requests_made
    state.pages, state.records = sum(q.pages for q in queries), sum(q.records for q in queries)
    state.queries = {q.folder.name: q.pages for q in queries}
    state.complete = all(q.complete for q in queries)
    if state.complete:
        written = write_descriptions(directory, options)
        log(f"Freesound harvest complete: {state.pages} pages, {written} distinct records in {directory / DESCRIPTIONS}")
    return state


def _harvest_query(query: _Query, options: HarvestOptions, client: FreesoundClient, log: Callable[[str], None]) -> None:
    """Fetch ``query``'s pages after the cached ones, caching each before asking for the next."""
    name = repr(query.query) if query.query else "every sound"
    if query.pages:
        log(f"Freesound harvest of {name}: {query.pages} pages cached ({query.records} records); "
            f"continuing at page {query.pages + 1}{_of(query, options)}")
    else:
        log(f"Freesound harvest of {name}: starting, {options.page_size} results a page, "
            f"{options.per_minute:g} requests a minute at most")
        write_json(query.folder / "query.json", {"query": query.query, "page_size": options.page_size,
                                                 "sort": "created_asc", "fields": list(FIELDS)})
    while not query.complete:
        n = query.pages + 1
        page = client.search(query.query, n, options.page_size)
        if page is None:  # past the last page (sounds were deleted since the last page was cached)
            query.complete = True
            break
        cached = {"url": page.url, "page": n, "count": page.count, "next": page.has_next, "results": page.results}
        write_text(query.folder / f"page-{n}.json", json.dumps(cached, ensure_ascii=False, separators=(",", ":")))
        query.pages, query.records, query.count = n, query.records + len(page.results), page.count
        query.complete = not page.has_next
        if n % LOG_EVERY == 0:
            log(f"Freesound harvest of {name}: page {n}{_of(query, options)}, {query.records} records")


def _of(query: _Query, options: HarvestOptions) -> str:
    """" of about N" pages, when the count of matching sounds is known."""
    return f" of about {max(math.ceil(query.count / options.page_size), 1)}" if query.count is not None else ""


def _paused_message(reason: str, queries: list[_Query], options: HarvestOptions, directory: Path) -> str:
    pages, records = sum(q.pages for q in queries), sum(q.records for q in queries)
    left = sum(max(math.ceil(q.count / options.page_size) - q.pages, 0) for q in queries if q.count is not None)
    remaining = f"; about {left} more pages to go" if left else ""
    return (f"Freesound harvest paused: {reason}. {pages} pages ({records} records) are cached in "
            f"{directory / 'pages'}{remaining}; run the same command again to continue "
            f"(a standard key allows {PER_DAY:,} requests a day: after a day's budget, run it tomorrow)")


def _folders(directory: Path, options: HarvestOptions | None) -> list[Path]:
    if options is not None:
        return [directory / "pages" / query_key(q, options.page_size) for q in options.queries]
    pages = directory / "pages"
    return sorted(p for p in pages.iterdir() if p.is_dir()) if pages.is_dir() else []


def records(directory: Path, options: HarvestOptions | None = None) -> Iterator[dict]:
    """The harvest records cached under ``directory``, query by query and page by page, each
    sound once (its first occurrence). ``options`` picks its queries' pages; None reads all."""
    seen: set[int] = set()
    for folder in _folders(Path(directory), options):
        for n in range(1, _cached_pages(folder) + 1):
            for record in _read_page(folder / f"page-{n}.json")["results"]:
                if record["id"] not in seen:
                    seen.add(record["id"])
                    yield record


def write_records(path: Path, items: Iterable[dict]) -> int:
    """Write ``items`` as JSON lines (UTF-8, one record a line) to ``path``, atomically; how many."""
    count = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as out:
        for record in items:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_descriptions(directory: Path, options: HarvestOptions | None = None) -> int:
    """Write ``directory/descriptions.jsonl`` from the cached pages (of ``options``' queries,
    or all), each sound once; how many records it holds. Works on a partial harvest too."""
    return write_records(Path(directory) / DESCRIPTIONS, records(directory, options))


def read_dump(path: Path, log: Callable[[str], None] | None = None) -> tuple[list[dict], int]:
    """The harvest records of a local dump (JSON lines of search results with the harvest
    fields, ``.gz`` read compressed), each sound once, and how many lines were malformed
    and skipped (``log``, if given, says how many and the first). A missing file, or one
    without a single valid record, is a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"Freesound dump {path} does not exist (or is not a file); pass a JSON-lines file of "
                         f"search results with the fields {', '.join(FIELDS)}")
    found: dict[int, dict] = {}
    skipped, first = 0, ""
    try:
        with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")) as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = harvest_record(json.loads(line))
                except ValueError as exc:  # json's errors are ValueErrors too
                    skipped += 1
                    first = first or f"line {number}: {exc}"
                    continue
                found.setdefault(record["id"], record)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise BenchError(f"cannot read Freesound dump {path} ({exc}); pass an uncompressed or gzip JSON-lines file") from None
    if not found:
        raise BenchError(f"Freesound dump {path} holds no valid record ({skipped} malformed lines"
                         f"{'; first ' + first if first else ''}); each line must be a JSON object with the fields "
                         f"{', '.join(FIELDS)}")
    if skipped and log is not None:
        log(f"Freesound dump {path}: skipped {skipped} malformed lines (first {first})")
    return list(found.values()), skipped
