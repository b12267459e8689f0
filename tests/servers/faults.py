"""A Range server that misbehaves on request, to test the reader's retries and error paths.

Control API (thread-safe; the session-scoped server is reset before each test that asks for
the `fault_server` fixture):

    server.inject("/scenes/<id>/B04.tif", ["503", "reset", "ok"])  # next 3 GETs of that path
    server.inject("*", ["429"])      # the next request of any path without its own plan
    server.requests                  # every request: method, path, Range header, action
    server.stall_s = 2.0             # how long "stall" holds a request
    server.retry_after = "1"         # the Retry-After header of "NNN" answers
    server.reset()                   # forget plans and the request log, restore the defaults

Actions, consumed one per request; when a path's plan runs out it is served normally:
- "ok": serve normally (206 for a Range request)
- "full": ignore Range and answer 200 with the whole file (a proxy that drops Range once)
- "NNN" (e.g. "503", "429", "500", "404"): answer with that status, `Retry-After:
  retry_after` (default "0") and a short text body
- "reset": close the connection with a TCP RST before answering
- "short": send the headers of the full answer, half the body, then close the connection
- "stall": answer nothing for `stall_s` seconds (default 10), then close the connection
"""

from __future__ import annotations

import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from tests.servers.http_range import LoggedRequest, RangeHandler, RangeServer

_STATUS = re.compile(r"[1-5]\d\d$")
_NAMED = {"ok", "full", "reset", "short", "stall"}


class FaultHandler(RangeHandler):
    server: FaultServer
    action = "ok"  # of the request being answered (one at a time per connection)

    def serve(self, head: bool) -> None:
        path = self.url_path()
        action = self.action = self.server.take(path)
        self.server.record(LoggedRequest(self.command, path, self.headers.get("Range"), action))
        if action == "ok":
            self.send_file(path, head)
        elif action == "full":
            self.send_file(path, head, honour_range=False)
        elif _STATUS.match(action):
            self.send_status(int(action), {"Retry-After": self.server.retry_after})
        elif action == "reset":
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()  # with linger 0, close() sends RST
        elif action == "short":
            self.close_connection = True
            self.send_file(path, head)
        elif action == "stall":
            self.close_connection = True
            self.server.closing.wait(self.server.stall_s)

    def send_body(self, f: BinaryIO, length: int) -> None:
        super().send_body(f, length // 2 if self.action == "short" else length)


class FaultServer(RangeServer):
    """A RangeServer (Range honoured) whose answers follow the plans given to `inject`."""

    def __init__(self, root: Path, log_path: Path, *, stall_s: float = 10.0) -> None:
        super().__init__(root, log_path, handler=FaultHandler)
        self.stall_s = self._default_stall_s = stall_s
        self.retry_after = "0"
        self.closing = threading.Event()
        self._plans: dict[str, deque[str]] = {}
        self._plan_lock = threading.Lock()

    def inject(self, path: str, actions: Iterable[str]) -> None:
        """Queue `actions` for the next requests of URL path `path` ("*": any path)."""
        actions = list(actions)
        bad = [a for a in actions if a not in _NAMED and not _STATUS.match(a)]
        if bad:
            raise ValueError(f"unknown fault actions {bad}; see tests.servers.faults")
        key = path if path == "*" else "/" + path.lstrip("/")
        with self._plan_lock:
            self._plans.setdefault(key, deque()).extend(actions)

    def take(self, path: str) -> str:
        """The action for this request of `path` (consumes it)."""
        with self._plan_lock:
            plan = self._plans.get(path) or self._plans.get("*")
            action = plan.popleft() if plan else "ok"
            return action

    def reset(self) -> None:
        with self._plan_lock:
            self._plans.clear()
        self.stall_s = self._default_stall_s
        self.retry_after = "0"
        self.clear_log()

    def close(self) -> None:
        self.closing.set()  # release stalled requests so shutdown does not wait for them
        super().close()
