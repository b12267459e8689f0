"""A threading HTTP server that serves from a daemon thread of the test process, and the
handler base of the stand-ins that answer JSON (token and signing endpoints)."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class BackgroundServer(ThreadingHTTPServer):
    """`start()` serves on a daemon thread named `thread_name`; `close()` stops and frees
    the socket."""

    thread_name: ClassVar[str] = "http"

    def start(self) -> Self:
        threading.Thread(target=self.serve_forever, name=self.thread_name, daemon=True).start()
        return self

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class JSONHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive, silent, and `reply(status, doc, headers)` sends a JSON body
    (typed `content_type`, which a stand-in sets as the service it imitates does)."""

    protocol_version = "HTTP/1.1"
    content_type = "application/json"

    def reply(
        self, status: int, doc: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass
