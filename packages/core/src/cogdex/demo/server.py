"""A static HTTP file server with Range support, for the demo (stdlib only).

Object stores answer one byte range per GET (206) over keep-alive connections; this does
the same for the files under a folder, so cogdex reads local COGs the way it reads
cloud ones. A thread per connection and a large listen backlog: a reader opens dozens of
connections at once, and the default backlog of 5 overflows and costs each dropped
connection a 1 s SYN retransmit. Counts requests and bytes served.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The half-open range a single-range `Range` header asks for; None without one (or for
    a form this server does not serve: the whole file is sent); ValueError when it cannot
    be satisfied (416)."""
    match = _RANGE.match((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        if last and int(last) < start:
            return None  # invalid, and RFC 9110 says to ignore it
        end = min(int(last) + 1, size) if last else size
    else:
        if int(last) == 0:
            raise ValueError("empty suffix range")
        start, end = max(size - int(last), 0), size
    if start >= size:
        raise ValueError(f"range starts at or after the end ({size} bytes)")
    return start, end


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like object stores
    server: RangeServer
    timeout = 60  # an idle keep-alive connection is closed after this

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _serve(self, body: bool) -> None:
        path = self.server.file(urllib.parse.unquote(urllib.parse.urlsplit(self.path).path))
        if path is None:
            self._status(404, {})
            return
        size = path.stat().st_size
        try:
            byte_range = parse_range(self.headers.get("Range"), size)
        except ValueError:
            self._status(416, {"Content-Range": f"bytes */{size}"})
            return
        start, end = byte_range or (0, size)
        self.send_response(206 if byte_range else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Accept-Ranges", "bytes")
        if byte_range:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{size}")
        self.end_headers()
        if body:
            with path.open("rb") as f:
                f.seek(start)
                data = f.read(end - start)
            self.wfile.write(data)
            self.server.count(len(data))

    def _status(self, code: int, headers: dict[str, str]) -> None:
        text = f"{code} {self.responses[code][0]}\n".encode()
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(text)
        self.server.count(0)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the demo prints its own account of the requests."""


class RangeServer(ThreadingHTTPServer):
    """The files under `root` on http://127.0.0.1:<free port> until `close()` (or the end
    of a `with` block), which also ends open keep-alive connections."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, root: str | Path, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.root = Path(root).resolve()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._thread: threading.Thread | None = None
        self.requests = 0
        """Requests answered (any status)."""
        self.bytes_sent = 0
        """Body bytes of file contents sent."""

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def file(self, url_path: str) -> Path | None:
        """The file a URL path names; None outside the root or when there is none."""
        candidate = (self.root / url_path.lstrip("/")).resolve()
        return candidate if candidate.is_relative_to(self.root) and candidate.is_file() else None

    def count(self, nbytes: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes_sent += nbytes

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Serve one connection, tracked so that `close()` can end it."""
        with self._lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._lock:
                self._open.discard(request)

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, name="cogdex-demo-http")
        self._thread.daemon = True
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, end open connections, release the port."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        with self._lock:
            connections = list(self._open)
        for conn in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                conn.shutdown(socket.SHUT_RDWR)
        self.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


__all__ = [
    "RangeServer",
]
