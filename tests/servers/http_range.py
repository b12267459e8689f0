"""Static HTTP servers for a directory: nginx (as production-like as it gets) or a small
threaded Python server, which can also ignore Range and answer 200 with the whole body."""

from __future__ import annotations

import email.utils
import os
import re
import threading
import time
import traceback
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO, Self

from tests.servers.process import ServerProcess, free_port

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    range: str | None
    """The Range header as sent, None without one."""
    action: str
    """"ok", or the fault the server injected (faults.FaultServer)."""
    time: float = field(default_factory=time.monotonic)
    """When the server received it (`time.monotonic()`)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The half-open byte range a single-range `Range` header asks for; None when there is
    none, or it is a form this server ignores (answered with the whole file); ValueError
    when it cannot be satisfied (416)."""
    match = _RANGE.match((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first:
        start = int(first)
        if last and int(last) < start:
            return None  # invalid: RFC 9110 says ignore it
        end = min(int(last) + 1, size) if last else size
    else:
        if int(last) == 0:
            raise ValueError("empty suffix range")
        start, end = max(size - int(last), 0), size
    if start >= size:
        raise ValueError(f"range starts at or after the end ({size} bytes)")
    return start, end


class RangeHandler(BaseHTTPRequestHandler):
    """GET/HEAD of files under the server's root; one byte range per request (what object
    stores send), any other Range form is ignored and answered with the whole file."""

    protocol_version = "HTTP/1.1"  # keep-alive, like real object stores
    server: RangeServer

    def do_HEAD(self) -> None:
        self.serve(head=True)

    def do_GET(self) -> None:
        self.serve(head=False)

    def serve(self, head: bool) -> None:
        path = self.url_path()
        self.server.record(LoggedRequest(self.command, path, self.headers.get("Range"), "ok"))
        self.send_file(path, head)

    def url_path(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)

    def send_file(self, path: str, head: bool, *, honour_range: bool | None = None) -> None:
        file = self.server.file(path)
        if file is None:
            self.send_status(404)
            return
        stat = file.stat()
        size = stat.st_size
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
        self.send_header("ETag", f'"{size:x}-{stat.st_mtime_ns:x}"')
        if self.server.honour_range:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", self.content_range(start, end, size))
        self.end_headers()
        if not head:
            with file.open("rb") as f:
                f.seek(start)
                self.send_body(f, end - start)

    def content_range(self, start: int, end: int, size: int) -> str:
        """The Content-Range of a 206 answer of bytes [start, end) (a hook for faults)."""
        return f"bytes {start}-{end - 1}/{size}"

    def send_body(self, f: BinaryIO, length: int) -> None:
        while length > 0:
            chunk = f.read(min(_CHUNK, length))
            if not chunk:
                break
            self.wfile.write(chunk)
            length -= len(chunk)

    def send_status(self, code: int, headers: dict[str, str] | None = None) -> None:
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
        self.server.write_log(f"{self.address_string()} {format % args}")


class RangeServer(ThreadingHTTPServer):
    """Files under `root` on http://127.0.0.1:<free port>, a thread per connection.

    `honour_range=False` makes it answer every GET with 200 and the whole file, like servers
    that ignore Range. `requests` logs every request (method, path, Range header).
    """

    daemon_threads = True
    # Readers open dozens of connections at once; the default backlog of 5 overflows and
    # the kernel drops SYNs, which costs the client a 1 s retransmit (see the lab README).
    request_queue_size = 1024

    def __init__(
        self,
        root: Path,
        log_path: Path,
        *,
        honour_range: bool = True,
        handler: type[RangeHandler] = RangeHandler,
    ) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.root = root.resolve()
        self.honour_range = honour_range
        self.log_path = log_path
        self._log_lock = threading.Lock()
        self._requests: list[LoggedRequest] = []
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._log_lock:
            return list(self._requests)

    def clear_log(self) -> None:
        with self._log_lock:
            self._requests.clear()

    def record(self, request: LoggedRequest) -> None:
        with self._log_lock:
            self._requests.append(request)

    def write_log(self, line: str) -> None:
        with self._log_lock, self.log_path.open("a") as log:
            log.write(line + "\n")

    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        """Into the log file, not stderr: clients that hang up mid-body (obstore refusing a
        200, a test's timeout) are expected here."""
        self.write_log(f"{client_address[0]}:{client_address[1]} {traceback.format_exc()}")

    def file(self, path: str) -> Path | None:
        """The file a URL path names, None outside the root or when there is none."""
        candidate = (self.root / path.lstrip("/")).resolve()
        if candidate.is_relative_to(self.root) and candidate.is_file():
            return candidate
        return None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, name="range-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()


@dataclass(frozen=True)
class Nginx:
    """nginx serving `root` with Range support; logs under `log_dir`."""

    url: str
    root: Path
    log_dir: Path
    process: ServerProcess

    @property
    def access_log(self) -> Path:
        return self.log_dir / "nginx_access.log"

    def close(self) -> None:
        self.process.stop()


def start_nginx(executable: str, root: Path, log_dir: Path) -> Nginx:
    """Start nginx in the foreground with a config written to `log_dir`."""
    port = free_port()
    temp = log_dir / "nginx_tmp"
    temp.mkdir(exist_ok=True)
    # As root, workers would switch to `nobody`, who cannot read pytest's 0700 temp dirs.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = log_dir / "nginx.conf"
    conf.write_text(f"""
{user}
daemon off;
worker_processes 2;
pid {log_dir}/nginx.pid;
error_log {log_dir}/nginx_error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log {log_dir}/nginx_access.log;
  sendfile on; tcp_nodelay on; keepalive_requests 100000; keepalive_timeout 120;
  types {{ application/json json; }}
  default_type application/octet-stream;
  client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
  uwsgi_temp_path {temp}; scgi_temp_path {temp};
  server {{ listen 127.0.0.1:{port}; root {root.resolve()}; autoindex on; }}
}}
""")
    process = ServerProcess(
        "nginx", [executable, "-c", conf, "-p", log_dir, "-e", log_dir / "nginx_error.log"], log_dir
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_http(f"{url}/", timeout=20)
    return Nginx(url, root, log_dir, process)
