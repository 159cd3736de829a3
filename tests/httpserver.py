"""A local HTTP server for download tests: serves a directory, honours ``Range: bytes=N-``
like GitHub and Zenodo do, and records every request. Tests never reach the network.

``serve(root, ranges=False)`` plays a server that ignores ``Range`` (it sends the whole
file with ``200``); ``serve(root, cut_once=n)`` one whose first response stops after ``n``
bytes of the body and closes the connection, although its ``Content-Length`` announced
the whole file (a dropped connection)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from pathlib import Path
from typing import Iterator


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []
    honour_ranges = True
    cut_once: int | None = None

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        RangeHandler.requests.append(f"{self.path} {self.headers.get('Range', '')}".strip())
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        if self.honour_ranges and self.headers.get("Range", "").startswith("bytes="):
            start = int(self.headers["Range"][6:].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        body, cut = data[start:], RangeHandler.cut_once
        if cut is not None:
            RangeHandler.cut_once = None
            body = body[:cut]
            self.close_connection = True
        self.wfile.write(body)


@contextlib.contextmanager
def serve(root: Path, *, ranges: bool = True, cut_once: int | None = None) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 for the block; yields the base URL."""
    RangeHandler.requests, RangeHandler.cut_once = [], cut_once
    handler_class = type("Handler", (RangeHandler,), {"honour_ranges": ranges})
    handler = lambda *a, **k: handler_class(*a, directory=str(root), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        RangeHandler.cut_once = None
        httpd.shutdown()
        httpd.server_close()
