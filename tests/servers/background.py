"""A threading HTTP server that serves from a daemon thread of the test process."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import ClassVar, Self


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
