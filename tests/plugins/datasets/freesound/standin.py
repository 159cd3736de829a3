"""A Freesound API v2 stand-in on 127.0.0.1 for tests: text search with pagination, token
authentication, rate limiting, and sound previews; tests never reach freesound.org.

Use::

    records = make_records(300, seed=0)
    with serve_freesound(records, token="good") as api:
        client_base = api.url                 # http://127.0.0.1:PORT/apiv2
        api.records                           # the records as served (preview URLs on this server)
        api.preview_url(7)                    # preview-hq-ogg of sound 7
        api.requests                          # "path?query" of every request, token parameter removed
        api.ranges                            # the Range header of each ("" when absent)
        api.pages()                           # search pages requested, in order
        api.rate_limit(after=2, retry_after=1)  # the 3rd request from now gets one 429
        api.delete(7)                         # sound 7's previews now 404 (deleted after the search)
        api.truncate(7)                       # its next preview response is cut short, connection closed
        api.malformed(2)                      # search page 2 answers 200 with a non-JSON body

What it serves:

- ``GET /apiv2/search/text/?query=&page=N&page_size=M&sort=created_asc&fields=a,b`` with the
  header ``Authorization: Token <token>``: ``{"count", "next", "previous", "results"}``, the
  records matching every query word (in name, description or tags, case-insensitively; the
  empty query matches all), ordered by id (``created_asc``; ``created_desc`` reverses), only
  the requested ``fields`` (Freesound's default set without ``fields``). ``next`` and
  ``previous`` are absolute URLs on this server with the same parameters, or null. A page
  past the last is 404 ``{"detail": "Invalid page."}``; ``page_size`` is capped at 150 as on
  Freesound. A missing or wrong token is 401 ``{"detail": "Invalid token."}``; the token may
  also come as the ``token`` query parameter (Freesound accepts both).
- ``GET /previews/<id>-{hq,lq}.{ogg,mp3}`` (no token, as on Freesound's CDN): the sound's
  preview bytes (``previews[id]`` or a short generated OGG Vorbis clip), ``Content-Type``
  audio/ogg or audio/mpeg, honouring ``Range: bytes=N-`` with ``206`` and ``Content-Range``.

:func:`make_records` writes preview URLs with the host :data:`PLACEHOLDER`, which the
stand-in replaces with its own address in every response (and in :attr:`FreesoundStandin.records`),
so records can be made before the server's port is known.
"""

from __future__ import annotations

import contextlib
import copy
import http.server
import io
import json
import random
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Iterator

#: The server address that :func:`make_records` writes into preview URLs; the stand-in serves it as its own.
PLACEHOLDER = "http://freesound.standin"
#: Freesound's largest page size.
MAX_PAGE_SIZE = 150
#: The fields Freesound returns when a search names none.
DEFAULT_FIELDS = ("id", "name", "tags", "username", "license")
#: Preview keys of the shared harvest format, and their file names on the stand-in.
PREVIEW_KEYS = {"preview-hq-ogg": "hq.ogg", "preview-lq-ogg": "lq.ogg", "preview-hq-mp3": "hq.mp3", "preview-lq-mp3": "lq.mp3"}

_LICENSES = (
    "http://creativecommons.org/publicdomain/zero/1.0/",
    "http://creativecommons.org/licenses/by/4.0/",
    "http://creativecommons.org/licenses/by-nc/4.0/",
    "https://creativecommons.org/licenses/by/3.0/",
)
_CAPTION_LIKE = (
    "A dog barks several times while cars pass by in the distance.",
    "Rain falls steadily on a tin roof as thunder rumbles far away.",
    "Birds chirp in the trees while a light wind blows through the leaves.",
    "A door creaks open slowly and then slams shut.",
    "People talk and laugh in a crowded room with dishes clinking.",
    "Water flows over rocks in a small stream.",
)
_FREESOUND_LIKE = (
    "Recorded with a Zoom H4n at 44.1kHz/24bit. Feel free to use, credit appreciated!",
    "Part of my field recording pack. Check out my other sounds :)",
    "Synth pad made in Ableton, 120 bpm, key of C minor. #loop #pad",
    "<a href=\"https://example.org\">link</a> Processed with reverb and EQ.\r\nUse it however you like.",
    "kick drum sample 808 one shot",
    "Ambience of the train station in Łódź, morning rush hour — «très animé».",
)
_TAGS = ("field-recording", "ambience", "dog", "rain", "synth", "loop", "drum", "birds", "water", "door", "voice", "city")


def make_records(n: int, seed: int = 0, root: str = PLACEHOLDER, first_id: int = 1000) -> list[dict]:
    """``n`` shared-format harvest records, ids ``first_id, first_id + 3, …`` (not contiguous,
    like Freesound's), with caption-like, Freesound-like and some empty descriptions,
    durations from 0.5 s to 5 min, and preview URLs under ``root`` (the stand-in's, see
    :data:`PLACEHOLDER`). Deterministic in ``seed``."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        sound_id = first_id + 3 * i
        kind = rng.random()
        if kind < 0.05:
            description = ""
        elif kind < 0.35:
            description = rng.choice(_CAPTION_LIKE)
        else:
            description = rng.choice(_FREESOUND_LIKE)
        records.append({
            "id": sound_id,
            "name": f"sound_{sound_id}_{rng.choice(_TAGS)}.wav",
            "description": description,
            "tags": rng.sample(_TAGS, rng.randint(0, 4)),
            "duration": round(rng.uniform(0.5, 300.0), 3),
            "license": rng.choice(_LICENSES),
            "username": f"user{rng.randint(1, max(n // 5, 1))}",
            "previews": {key: f"{root}/previews/{sound_id}-{name}" for key, name in PREVIEW_KEYS.items()},
        })
    return records


def ogg_bytes(seconds: float = 0.2, seed: int = 0, rate: int = 44100) -> bytes:
    """A short OGG Vorbis clip of quiet noise, deterministic in ``seed``: a decodable preview."""
    import numpy as np
    import soundfile

    audio = 0.1 * np.random.default_rng(seed).standard_normal(max(int(seconds * rate), 1)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="OGG", subtype="VORBIS")
    return buffer.getvalue()


@dataclass
class FreesoundStandin:
    """The running stand-in's state and switches (all thread-safe); see the module docstring."""

    records_in: list[dict]
    previews: dict[int, bytes]
    token: str
    root: str = ""
    #: Every request as "path?query", with any ``token`` query parameter removed.
    requests: list[str] = field(default_factory=list)
    #: The Authorization header of each request ("" when absent), in the same order.
    auth_headers: list[str] = field(default_factory=list)
    #: The Range header of each request ("" when absent), in the same order.
    ranges: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _limit: tuple[int, int] | None = None  # (requests left before a 429, Retry-After seconds)
    _deleted: set[int] = field(default_factory=set)
    _truncated: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)  # id → (times left, bytes kept)
    _malformed: set[int] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The API base, ``http://127.0.0.1:PORT/apiv2`` (what a client's base URL option takes)."""
        return f"{self.root}/apiv2"

    @property
    def records(self) -> list[dict]:
        """The records as this stand-in serves them (preview URLs on its own address)."""
        return [self._localise(r) for r in self.records_in]

    def preview_url(self, sound_id: int, kind: str = "preview-hq-ogg") -> str:
        return f"{self.root}/previews/{sound_id}-{PREVIEW_KEYS[kind]}"

    def pages(self, query: str | None = None) -> list[int]:
        """The page numbers of the search requests so far (for ``query`` only, if given), in order."""
        found = []
        for request in list(self.requests):
            path, _, qs = request.partition("?")
            if not path.rstrip("/").endswith("/search/text"):
                continue
            params = urllib.parse.parse_qs(qs, keep_blank_values=True)
            if query is None or params.get("query", [""])[0] == query:
                found.append(int(params.get("page", ["1"])[0]))
        return found

    def rate_limit(self, after: int = 0, retry_after: int = 1) -> None:
        """Answer the request after the next ``after`` ones with one 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self._limit = (after, retry_after)

    def delete(self, sound_id: int) -> None:
        """Make the sound's previews 404, as for a sound deleted between the search and the download."""
        with self._lock:
            self._deleted.add(sound_id)

    def truncate(self, sound_id: int, times: int | None = 1, keep: int | None = None) -> None:
        """Cut the next ``times`` preview responses of the sound (every one when None) after
        ``keep`` bytes of the body (default half of it), closing the connection, although
        ``Content-Length`` announced the whole body: a dropped connection."""
        with self._lock:
            self._truncated[sound_id] = (times, keep)

    def malformed(self, page: int) -> None:
        """Make search page ``page`` answer 200 with an HTML body instead of JSON."""
        with self._lock:
            self._malformed.add(page)

    def restore(self) -> None:
        """Undo every switch (rate limit, deletions, truncations, malformed pages)."""
        with self._lock:
            self._limit, self._deleted, self._truncated, self._malformed = None, set(), {}, set()

    # --- what the handler asks ---------------------------------------------------------

    def _localise(self, record: dict) -> dict:
        record = copy.deepcopy(record)
        if isinstance(record.get("previews"), dict):
            record["previews"] = {k: v.replace(PLACEHOLDER, self.root) if isinstance(v, str) else v
                                  for k, v in record["previews"].items()}
        return record

    def _take_limit(self) -> int | None:
        """Count one request against the rate limit; the Retry-After to answer with, or None."""
        with self._lock:
            if self._limit is None:
                return None
            left, retry_after = self._limit
            if left > 0:
                self._limit = (left - 1, retry_after)
                return None
            self._limit = None
            return retry_after

    def _take_truncation(self, sound_id: int, size: int) -> int | None:
        with self._lock:
            if sound_id not in self._truncated:
                return None
            times, keep = self._truncated[sound_id]
            if times is not None:
                if times <= 1:
                    del self._truncated[sound_id]
                else:
                    self._truncated[sound_id] = (times - 1, keep)
            return size // 2 if keep is None else min(keep, size)

    def _preview(self, sound_id: int) -> bytes | None:
        if sound_id in self._deleted or not any(r.get("id") == sound_id for r in self.records_in):
            return None
        if sound_id not in self.previews:
            self.previews[sound_id] = ogg_bytes(seed=sound_id)
        return self.previews[sound_id]

    def _search(self, params: dict[str, str]) -> tuple[int, dict]:
        words = params.get("query", "").lower().split()
        matching = [r for r in self.records_in
                    if all(w in " ".join([str(r.get("name", "")), str(r.get("description", "")),
                                          " ".join(map(str, r.get("tags") or []))]).lower() for w in words)]
        matching.sort(key=lambda r: r.get("id", 0), reverse=params.get("sort") == "created_desc")
        try:
            page, size = int(params.get("page", "1")), min(int(params.get("page_size", "15")), MAX_PAGE_SIZE)
        except ValueError:
            return 400, {"detail": "Invalid page or page_size."}
        last = max((len(matching) + size - 1) // size, 1)
        if page < 1 or page > last:
            return 404, {"detail": "Invalid page."}
        fields = params["fields"].split(",") if params.get("fields") else list(DEFAULT_FIELDS)
        results = [{f: v for f, v in self._localise(r).items() if f in fields}
                   for r in matching[(page - 1) * size:page * size]]

        def link(n: int) -> str | None:
            if not 1 <= n <= last:
                return None
            query = {k: v for k, v in params.items() if k != "token"} | {"page": str(n), "page_size": str(size)}
            return f"{self.url}/search/text/?{urllib.parse.urlencode(query)}"

        return 200, {"count": len(matching), "next": link(page + 1), "previous": link(page - 1), "results": results}


class _Handler(http.server.BaseHTTPRequestHandler):
    standin: FreesoundStandin

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", headers)

    def do_GET(self) -> None:
        api = self.standin
        parsed = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
        clean = urllib.parse.urlencode({k: v for k, v in params.items() if k != "token"})
        with api._lock:
            api.requests.append(f"{parsed.path}?{clean}" if clean else parsed.path)
            api.auth_headers.append(self.headers.get("Authorization", ""))
            api.ranges.append(self.headers.get("Range", ""))
        retry_after = api._take_limit()
        if retry_after is not None:
            self._json(429, {"detail": "Request was throttled. Expected available in %d seconds." % retry_after},
                       {"Retry-After": str(retry_after)})
            return
        preview = re.fullmatch(r"/previews/(\d+)-(hq|lq)\.(ogg|mp3)", parsed.path)
        if preview:
            self._serve_preview(int(preview.group(1)), "audio/ogg" if preview.group(3) == "ogg" else "audio/mpeg")
        elif parsed.path.rstrip("/") == "/apiv2/search/text":
            token = params.get("token") or self.headers.get("Authorization", "").removeprefix("Token ")
            if token != api.token:
                self._json(401, {"detail": "Invalid token."})
                return
            page = int(params["page"]) if params.get("page", "").isdigit() else 1
            if page in api._malformed:
                self._send(200, b"<html><body>Service temporarily unavailable</body></html>", "text/html")
                return
            status, data = api._search(params)
            self._json(status, data)
        else:
            self._json(404, {"detail": "Not found."})

    def _serve_preview(self, sound_id: int, content_type: str) -> None:
        data = self.standin._preview(sound_id)
        if data is None:
            self._json(404, {"detail": "Not found."})
            return
        start, status, headers = 0, 200, {"Accept-Ranges": "bytes"}
        if self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0] or 0)
            if start >= len(data):
                self._send(416, b"", content_type, {"Content-Range": f"bytes */{len(data)}"})
                return
            status, headers["Content-Range"] = 206, f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        keep = self.standin._take_truncation(sound_id, len(body))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if keep is not None:
            body = body[:keep]
            self.close_connection = True
        self.wfile.write(body)


@contextlib.contextmanager
def serve_freesound(records: list[dict], previews: dict[int, bytes] | None = None,
                    token: str = "good") -> Iterator[FreesoundStandin]:
    """Serve ``records`` (and ``previews``, bytes by sound id; a generated OGG clip for the
    others) on 127.0.0.1 for the block, accepting ``token``; yields the stand-in."""
    api = FreesoundStandin(records_in=records, previews=dict(previews or {}), token=token)
    handler = type("Handler", (_Handler,), {"standin": api})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    api.root = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        httpd.shutdown()
        httpd.server_close()
