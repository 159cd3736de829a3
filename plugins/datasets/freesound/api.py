"""A client for Freesound API v2 text search (https://freesound.org/docs/api/): one page of
search results at a time, authenticated by the token in ``FREESOUND_TOKEN``, within the
API's rate limits and a request budget, each result checked against the shared harvest
record format.

The token goes only into the ``Authorization`` header: it is in no URL, log line, error,
cached file or ``repr``. Waiting goes through an injectable :class:`Timer`, so tests never
sleep for real.
"""

from __future__ import annotations

import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from benchmark.api import BenchError

#: Where the API lives unless ``FREESOUND_API_URL`` or an option says otherwise (a mirror, a test stand-in).
DEFAULT_URL = "https://freesound.org/apiv2"
#: The environment variables holding the token and the base URL.
TOKEN_VARIABLE, URL_VARIABLE = "FREESOUND_TOKEN", "FREESOUND_API_URL"
#: Where users get a token.
APPLY_URL = "https://freesound.org/apiv2/apply"
#: The fields of a harvest record (the shared format), asked for in every search.
FIELDS = ("id", "name", "description", "tags", "duration", "license", "username", "previews")
#: Freesound's largest page size.
MAX_PAGE_SIZE = 150
#: The standard limits of a Freesound API key: requests per minute and per day.
PER_MINUTE, PER_DAY = 60, 2000
#: The longest Retry-After the client waits out; a longer one (the daily limit) pauses the harvest.
MAX_WAIT_SECONDS = 120.0
#: How long to wait after a 429 without Retry-After (the per-minute window).
DEFAULT_RETRY_AFTER = 60.0


class HarvestPaused(BenchError):
    """The client stopped before an error: its request budget is spent, or Freesound asks it
    to wait longer than it will (its daily limit). What is cached is kept; running again
    later continues. :func:`.harvest.harvest` turns it into an incomplete state."""


@dataclass(frozen=True)
class Timer:
    """Where the client reads the time and how it waits: real by default, fakes in tests."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Page:
    """One page of search results: its URL (without the token), the total number of matching
    sounds, whether another page follows, and the results as harvest records."""

    url: str
    count: int
    has_next: bool
    results: list[dict]


def _check_str(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"'{name}' is {type(value).__name__}, not a string")
    return value


def harvest_record(result: Any) -> dict:
    """``result`` (a search result or a dump line) as a harvest record of the shared format:
    exactly its fields, typed (``duration`` a float, ``description`` "" for null); a
    ValueError names the first missing or mistyped field."""
    if not isinstance(result, dict):
        raise ValueError(f"it is a {type(result).__name__}, not an object")
    missing = [f for f in FIELDS if f not in result]
    if missing:
        raise ValueError(f"it lacks {', '.join(repr(m) for m in missing)}")
    sound_id, duration = result["id"], result["duration"]
    if isinstance(sound_id, bool) or not isinstance(sound_id, int):
        raise ValueError(f"'id' is {sound_id!r}, not an integer")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration):
        raise ValueError(f"'duration' is {duration!r}, not a number of seconds")
    tags, previews = result["tags"], result["previews"]
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("'tags' is not a list of strings")
    if not isinstance(previews, dict) or not all(isinstance(v, str) for v in previews.values()):
        raise ValueError("'previews' is not an object of URLs")
    description = "" if result["description"] is None else _check_str(result["description"], "description")
    return {
        "id": sound_id,
        "name": _check_str(result["name"], "name"),
        "description": description,
        "tags": list(tags),
        "duration": float(duration),
        "license": _check_str(result["license"], "license"),
        "username": _check_str(result["username"], "username"),
        "previews": dict(previews),
    }


def _retry_after(headers: Any) -> float:
    """Seconds from a Retry-After header (a number; an HTTP date or nothing: the default)."""
    try:
        value = float(headers.get("Retry-After", ""))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    return max(value, 0.0) if math.isfinite(value) else DEFAULT_RETRY_AFTER


@dataclass
class FreesoundClient:
    """Freesound's text search, one page per :meth:`search` call.

    ``per_minute`` spaces requests (60, the standard limit); ``max_requests`` is this
    client's budget (None: unbounded), after which :class:`HarvestPaused` stops it; a 429
    is waited out for its Retry-After (at most :data:`MAX_WAIT_SECONDS`) and retried up to
    ``retries`` times, as are 5xx answers and dropped connections (after 2, 4, 8… seconds).
    Every request sent counts against the budget, retries included.
    """

    base_url: str = ""
    token: str = field(default="", repr=False)
    per_minute: float = PER_MINUTE
    max_requests: int | None = None
    retries: int = 5
    timer: Timer = field(default_factory=Timer, repr=False)
    #: Requests sent so far.
    requests_made: int = field(default=0, init=False)
    _last: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.base_url = (self.base_url or os.environ.get(URL_VARIABLE, "") or DEFAULT_URL).rstrip("/")
        self.token = self.token or os.environ.get(TOKEN_VARIABLE, "").strip()
        if not self.token:
            raise BenchError(
                f"no Freesound API token: set {TOKEN_VARIABLE} (get a key at {APPLY_URL}) "
                "or pass a local dump of search results (JSON lines) instead"
            )
        if urllib.parse.urlsplit(self.base_url).scheme not in ("http", "https"):
            raise BenchError(f"Freesound API URL {self.base_url!r} ({URL_VARIABLE}) is not an http(s) URL; "
                             f"unset it to use {DEFAULT_URL}")
        if not self.per_minute > 0:
            raise BenchError(f"the Freesound request rate must be positive, not {self.per_minute} per minute")

    def search_url(self, query: str, page: int, page_size: int = MAX_PAGE_SIZE) -> str:
        """The URL of one page of results for ``query``, oldest sounds first (pages stay stable
        as sounds are added); it holds no token."""
        params = {"query": query, "page": page, "page_size": page_size, "sort": "created_asc", "fields": ",".join(FIELDS)}
        return f"{self.base_url}/search/text/?{urllib.parse.urlencode(params)}"

    def search(self, query: str, page: int, page_size: int = MAX_PAGE_SIZE) -> Page | None:
        """Page ``page`` (from 1) of the results for ``query``; None when Freesound says the
        page is past the last one (404 for a page after the first)."""
        url = self.search_url(query, page, page_size)
        status, body = self._get(url)
        if status == 404 and page > 1:
            return None
        if status == 404:
            raise BenchError(f"Freesound API at {self.base_url} has no text search (HTTP 404 for {url}); "
                             f"check {URL_VARIABLE} (or unset it to use {DEFAULT_URL})")
        return self._page(url, body)

    def _page(self, url: str, body: bytes) -> Page:
        def malformed(why: str) -> BenchError:
            return BenchError(f"Freesound page {url} is malformed ({why}); pages cached before it are kept: "
                              "run again to fetch it again, and report it if it persists")

        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise malformed(f"not JSON: {body[:40]!r}") from None
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise malformed("no 'results' list")
        count = data.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or not isinstance(data.get("next", ""), (str, type(None))):
            raise malformed("no 'count' of results or a bad 'next'")
        results = []
        for index, result in enumerate(data["results"]):
            try:
                results.append(harvest_record(result))
            except ValueError as exc:
                sound = f" (id {result['id']})" if isinstance(result, dict) and "id" in result else ""
                raise malformed(f"result {index}{sound}: {exc}") from None
        return Page(url, count, bool(data.get("next")), results)

    def _get(self, url: str) -> tuple[int, bytes]:
        """GET ``url`` within the rate and the budget, waiting out 429s and retrying server
        errors; the final status and body (200, or 404 for the caller to read)."""
        for attempt in range(self.retries + 1):
            self._spend()
            request = urllib.request.Request(url, headers={"Authorization": f"Token {self.token}",
                                                           "Accept": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, headers = exc.code, exc.headers
                exc.close()
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                status, headers, reason = 0, {}, self._scrub(str(getattr(exc, "reason", None) or exc))
            if status == 404:
                return status, b""
            if status in (401, 403):
                raise BenchError(
                    f"the token in {TOKEN_VARIABLE} was rejected (HTTP {status}) by {self.base_url}: check it "
                    f"(your keys are listed at https://freesound.org/home/app_credentials/; get one at {APPLY_URL})"
                )
            if status == 429:
                wait = _retry_after(headers)
                if wait > MAX_WAIT_SECONDS:
                    raise HarvestPaused(f"Freesound's request limit is reached (it asks to wait {wait:.0f} s)")
            elif status == 0 or status >= 500:
                wait = 2.0 ** (attempt + 1)
            else:
                raise BenchError(f"Freesound answered HTTP {status} for {url}; check the query and {URL_VARIABLE}")
            if attempt < self.retries:
                self.timer.sleep(wait)
        what = "HTTP 429 (too many requests)" if status == 429 else f"HTTP {status}" if status else reason
        if status == 429:
            raise HarvestPaused(f"Freesound kept answering {what} for {url}, {self.retries + 1} times")
        raise BenchError(f"Freesound failed for {url} ({what}, {self.retries + 1} tries); "
                         "pages cached so far are kept: run again later")

    def _spend(self) -> None:
        """Count one request against the budget and wait until the rate allows it."""
        if self.max_requests is not None and self.requests_made >= self.max_requests:
            raise HarvestPaused(f"the request budget is spent ({self.max_requests} requests)")
        interval = 60.0 / self.per_minute
        if self._last is not None:
            wait = self._last + interval - self.timer.now()
            if wait > 0:
                self.timer.sleep(wait)
        self._last = self.timer.now()
        self.requests_made += 1

    def _scrub(self, text: str) -> str:
        """``text`` with the token blanked, should a library ever quote it."""
        return text.replace(self.token, "***") if self.token else text
