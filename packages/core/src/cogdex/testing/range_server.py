"""`RangeServer`: the files under a folder over HTTP with Range requests (stdlib only).

Object stores answer one byte range per GET (206) over keep-alive connections; this does the
same for local files, so code under test reads them the way it reads cloud ones. A thread
per connection and a large listen backlog: a reader opens dozens of connections at once,
and the default backlog of 5 overflows and costs each dropped connection a 1 s SYN
retransmit. It logs every request (method, path, Range header) and counts the body bytes
it sent; `RangeHandler` is the base for servers that misbehave on purpose (fault injection,
authentication) in a test suite.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import socket
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    """The URL path, unquoted."""
    range: str | None
    """The Range header as sent, None without one."""
    action: str = "ok"
    """"ok", or what a `RangeHandler` subclass did instead (the fault it injected)."""
    time: float = field(default_factory=time.monotonic)
    """When the server received it (`time.monotonic()`)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The half-open byte range a single-range `Range` header asks for of a `size`-byte
    file; None when there is none, or it is a form this server ignores (answered with the
    whole file); ValueError when it cannot be satisfied (416)."""
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


def _none_match(header: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` header names `etag`, compared weakly (RFC 9110 13.1.2: a
    `W/` prefix is ignored on either side; `*` names any current version)."""
    if header is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


class RangeHandler(BaseHTTPRequestHandler):
    """GET/HEAD of files under the server's root; one byte range per request (what object
    stores send), any other Range form is ignored and answered with the whole file; a
    request whose `If-None-Match` names the file's ETag is answered 304 with no body.

    Subclasses override `serve` to answer some requests differently and call `send_file`
    or `send_status` for the rest."""

    protocol_version = "HTTP/1.1"  # keep-alive, like object stores
    server: RangeServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)

    def do_HEAD(self) -> None:
        self.serve(head=True)

    def do_GET(self) -> None:
        self.serve(head=False)

    def serve(self, head: bool) -> None:
        """Log the request and answer it with the file its path names."""
        path = self.url_path()
        self.server.record(LoggedRequest(self.command, path, self.headers.get("Range")))
        self.send_file(path, head)

    def url_path(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)

    def send_file(self, path: str, head: bool, *, honour_range: bool | None = None) -> None:
        """The file at URL path `path`: 206 with the range asked for, 200 with the whole
        file (no Range, or `honour_range` False; default: the server's), 404, or 416."""
        file = self.server.file(path)
        if file is None:
            self.send_status(404)
            return
        stat = file.stat()
        size = stat.st_size
        etag = f'"{size:x}-{stat.st_mtime_ns:x}"'
        if self.server.conditional and _none_match(self.headers.get("If-None-Match"), etag):
            self.send_not_modified(etag, stat.st_mtime)
            return
        status, start, end = 200, 0, size
        if self.server.honour_range if honour_range is None else honour_range:
            try:
                byte_range = parse_range(self.headers.get("Range"), size)
            except ValueError:
                self.send_status(416, {"Content-Range": f"bytes */{size}"})
                return
            if byte_range is not None:
                status, (start, end) = 206, byte_range
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start))
        self.send_header("Last-Modified", email.utils.formatdate(stat.st_mtime, usegmt=True))
        self.send_header("ETag", etag)
        if self.server.honour_range:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", self.content_range(start, end, size))
        self.end_headers()
        if not head:
            with file.open("rb") as f:
                f.seek(start)
                self.send_body(f, end - start)

    def send_not_modified(self, etag: str, mtime: float) -> None:
        """304: the client's copy (the ETag it named) is the file's current version."""
        self.send_response(304)
        self.send_header("Last-Modified", email.utils.formatdate(mtime, usegmt=True))
        self.send_header("ETag", etag)
        self.end_headers()

    def content_range(self, start: int, end: int, size: int) -> str:
        """The Content-Range of a 206 answer of bytes [start, end) (a hook for faults)."""
        return f"bytes {start}-{end - 1}/{size}"

    def send_body(self, f: BinaryIO, length: int) -> None:
        """Up to `length` bytes of `f` from where it stands, counted in `bytes_sent` before
        they are written: counted after, a client could have them (and its test read the
        count) while this thread waited for the GIL to count them."""
        while length > 0:
            chunk = f.read(min(_CHUNK, length))
            if not chunk:
                break
            self.server.count(len(chunk))
            self.wfile.write(chunk)
            length -= len(chunk)

    def send_status(self, code: int, headers: dict[str, str] | None = None) -> None:
        """An answer with no file: `code`, `headers` and a one-line text body."""
        body = f"{code} {self.responses.get(code, ('',))[0]}\n".encode()
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Into the server's log file, if it has one; never to stderr."""
        self.server.write_log(f"{self.address_string()} {format % args}")


class RangeServer(ThreadingHTTPServer):
    """The files under `root` on http://127.0.0.1:<port> (a free one by default) from
    `start()` until `close()`, or within a `with` block.

    `requests` logs every request, `bytes_sent` counts the file bytes sent; `log_path`, if
    given, gets an access log and the tracebacks of failed connections. With
    `honour_range=False` every GET is answered with 200 and the whole file, like servers
    that ignore Range; with `conditional=False`, `If-None-Match` is ignored too (answered
    as if absent), like servers that send ETags but never 304. An idle keep-alive
    connection is closed after `idle_timeout` seconds (None: never); `close()` also ends
    the open ones.
    """

    daemon_threads = True
    request_queue_size = 1024

    def __init__(
        self,
        root: str | Path,
        log_path: str | Path | None = None,
        *,
        port: int = 0,
        honour_range: bool = True,
        conditional: bool = True,
        idle_timeout: float | None = 60.0,
        handler: type[RangeHandler] = RangeHandler,
    ) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self.root = Path(root).resolve()
        self.log_path = None if log_path is None else Path(log_path)
        self.honour_range = honour_range
        self.conditional = conditional
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._requests: list[LoggedRequest] = []
        self._bytes_sent = 0
        self._open: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """http://127.0.0.1:<port>, without a trailing slash."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request received since the start (or `clear_log()`), in order."""
        with self._lock:
            return list(self._requests)

    @property
    def bytes_sent(self) -> int:
        """Body bytes of file contents sent since the start (or `clear_log()`)."""
        with self._lock:
            return self._bytes_sent

    def clear_log(self) -> None:
        """Forget the requests and bytes so far (to count one step of a test)."""
        with self._lock:
            self._requests.clear()
            self._bytes_sent = 0

    def record(self, request: LoggedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def count(self, nbytes: int) -> None:
        with self._lock:
            self._bytes_sent += nbytes

    def write_log(self, line: str) -> None:
        """Append `line` to the log file; nothing without one."""
        if self.log_path is not None:
            with self._lock, self.log_path.open("a") as log:
                log.write(line + "\n")

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Into the log file, not stderr: clients that hang up mid-body (a reader refusing
        a 200, a test's timeout) are expected here. Without a log file, stderr as usual."""
        if self.log_path is None:
            super().handle_error(request, client_address)
        else:
            self.write_log(f"{client_address[0]}:{client_address[1]} {traceback.format_exc()}")

    def file(self, url_path: str) -> Path | None:
        """The file a URL path names; None outside the root or when there is none."""
        candidate = (self.root / url_path.lstrip("/")).resolve()
        return candidate if candidate.is_relative_to(self.root) and candidate.is_file() else None

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
        """Serve from a daemon thread; returns the server."""
        self._thread = threading.Thread(target=self.serve_forever, name="cogdex-range-server")
        self._thread.daemon = True
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting, end open connections, release the port (also before `start`)."""
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
    "LoggedRequest",
    "RangeHandler",
    "RangeServer",
    "parse_range",
]
