"""A local HTTP server for download tests: serves a directory, honours ``Range: bytes=N-``
like GitHub and Zenodo do (``206`` with ``Content-Range: bytes N-M/total``; ``416`` with
``Content-Range: bytes */total`` from the end on), and records every request. Tests never
reach the network.

``serve(root, ranges=False)`` plays a server that ignores ``Range`` (it sends the whole
file with ``200``); ``serve(root, cut_once=n)`` one whose first response stops after ``n``
bytes of the body and closes the connection, although its ``Content-Length`` announced
the whole file (a dropped connection). ``serve_script(script)`` plays a hostile server:
``script(handler)`` writes each raw response, as slowly, short or malformed as it likes."""

from __future__ import annotations

import contextlib
import http.server
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator


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
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
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


class ScriptHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET with its server's ``script(handler)``, which writes a raw response;
    each connection carries one request."""

    script: Callable[[ScriptHandler], None]
    requests: list[str]

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        self.requests.append(f"{self.path} {self.headers.get('Range', '')}".strip())
        self.close_connection = True
        try:
            self.script(self)
        except OSError:  # the client gave up or was refused mid-response: nothing to serve
            pass

    def respond(self, status: str, headers: Iterable[tuple[str, object]] = (), body: bytes = b"") -> None:
        """Write ``HTTP/1.1 <status>``, the headers as given (none added) and ``body``."""
        head = f"HTTP/1.1 {status}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
        self.wfile.write(head.encode("latin-1") + body)
        self.wfile.flush()


@dataclass
class Scripted:
    """A :func:`serve_script` server: its base URL and the requests it got (path and Range)."""

    url: str
    requests: list[str] = field(default_factory=list)


@contextlib.contextmanager
def serve_script(script: Callable[[ScriptHandler], None]) -> Iterator[Scripted]:
    """Answer every GET on 127.0.0.1 with ``script(handler)`` for the block: a hostile server
    that writes whatever response it likes (``handler.respond``), slowly, short or malformed.
    ``handler.path`` and ``handler.headers`` are the request's."""
    served = Scripted("")
    handler = type("Scripted", (ScriptHandler,), {"script": staticmethod(script), "requests": served.requests})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True  # a trickling script still running does not hold the test up
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield served
    finally:
        httpd.shutdown()
        httpd.server_close()
