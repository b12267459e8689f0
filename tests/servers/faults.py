"""A Range server that misbehaves on request, to test the reader's retries and error paths.

Control API (thread-safe; the session-scoped server is reset before each test that asks for
the `fault_server` fixture):

    server.inject("/scenes/<id>/B04.tif", ["503", "reset", "ok"])  # next 3 GETs of that path
    server.inject("*", ["429"])      # the next request of any path without its own plan
    server.random_faults(0.05, ["503", "reset"], seed=1)  # then, each request: 5% a fault
    server.requests                  # every request: method, path, Range header, action
    server.stall_s = 2.0             # how long "stall" holds a request
    server.retry_after = "1"         # the Retry-After header of "NNN" answers
    server.reset()                   # forget plans, random faults and the log; defaults back

Actions, consumed one per request; when a path's plan runs out the request draws from
`random_faults` (a seeded generator: the same sequence of actions every run, though which
request meets which depends on their order), else it is served normally:
- "ok": serve normally (206 for a Range request)
- "full": ignore Range and answer 200 with the whole file (a proxy that drops Range once)
- "NNN" (e.g. "503", "429", "500", "404", "403"): answer with that status, `Retry-After:
  retry_after` (default "0") and a short text body
- "reset": close the connection with a TCP RST before answering
- "reset-body": send the headers of the full answer and half the body, then an RST
- "short": send the headers of the full answer, half the body, then close the connection
  (a truncated body: fewer bytes than Content-Length)
- "bad-range": answer 206 with the bytes asked for under a Content-Range one byte later
- "stall": answer nothing for `stall_s` seconds (default 10), then close the connection
"""

from __future__ import annotations

import random
import re
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from cogdex.testing import LoggedRequest, RangeHandler, RangeServer

_STATUS = re.compile(r"[1-5]\d\d$")
_NAMED = {"ok", "full", "reset", "reset-body", "short", "bad-range", "stall"}
_HALF_BODY = {"short", "reset-body"}
# Every fault that may pass: throttling and server errors, resets before and during the body,
# truncated bodies, a wrong Content-Range, a 200 instead of a 206, a stall (with a short
# `stall_s`, the client sees the connection close).
TRANSIENT = ["503", "500", "429", "reset", "reset-body", "short", "bad-range", "full", "stall"]


class FaultHandler(RangeHandler):
    server: FaultServer
    action = "ok"  # of the request being answered (one at a time per connection)

    def serve(self, head: bool) -> None:
        path = self.url_path()
        action = self.action = self.server.take(path)
        self.server.record(LoggedRequest(self.command, path, self.headers.get("Range"), action))
        if action in ("ok", "bad-range"):  # bad-range: see content_range
            self.send_file(path, head)
        elif action == "full":
            self.send_file(path, head, honour_range=False)
        elif _STATUS.match(action):
            self.send_status(int(action), {"Retry-After": self.server.retry_after})
        elif action == "reset":
            self.send_reset()
        elif action in ("short", "reset-body"):
            self.close_connection = True
            self.send_file(path, head)
            if action == "reset-body":
                self.send_reset()
        elif action == "stall":
            self.close_connection = True
            self.server.closing.wait(self.server.stall_s)

    def send_reset(self) -> None:
        self.close_connection = True
        self.wfile.flush()
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()  # with linger 0, close() sends RST

    def content_range(self, start: int, end: int, size: int) -> str:
        if self.action == "bad-range":
            start, end = start + 1, end + 1
        return super().content_range(start, end, size)

    def send_body(self, f: BinaryIO, length: int) -> None:
        super().send_body(f, length // 2 if self.action in _HALF_BODY else length)


class FaultServer(RangeServer):
    """A RangeServer (Range honoured) whose answers follow the plans given to `inject`."""

    def __init__(self, root: Path, log_path: Path, *, stall_s: float = 10.0) -> None:
        super().__init__(root, log_path, handler=FaultHandler)
        self.stall_s = self._default_stall_s = stall_s
        self.retry_after = "0"
        self.closing = threading.Event()
        self._plans: dict[str, deque[str]] = {}
        self._plan_lock = threading.Lock()
        self._rate = 0.0
        self._random_actions: list[str] = []
        self._rng = random.Random(0)

    def random_faults(self, rate: float, actions: Iterable[str], *, seed: int) -> None:
        """Answer each request that no plan covers with one of `actions` (drawn uniformly)
        with probability `rate`, from a generator seeded with `seed`; rate 0 stops it."""
        actions = self._checked(actions)
        with self._plan_lock:
            self._rate, self._random_actions = rate, actions
            self._rng = random.Random(seed)

    def inject(self, path: str, actions: Iterable[str]) -> None:
        """Queue `actions` for the next requests of URL path `path` ("*": any path)."""
        actions = self._checked(actions)
        key = path if path == "*" else "/" + path.lstrip("/")
        with self._plan_lock:
            self._plans.setdefault(key, deque()).extend(actions)

    @staticmethod
    def _checked(actions: Iterable[str]) -> list[str]:
        actions = list(actions)
        bad = [a for a in actions if a not in _NAMED and not _STATUS.match(a)]
        if bad:
            raise ValueError(f"unknown fault actions {bad}; see tests.servers.faults")
        return actions

    def take(self, path: str) -> str:
        """The action for this request of `path` (consumes it)."""
        with self._plan_lock:
            plan = self._plans.get(path) or self._plans.get("*")
            if plan:
                return plan.popleft()
            if self._rate and self._rng.random() < self._rate:
                return self._rng.choice(self._random_actions)
            return "ok"

    def reset(self) -> None:
        with self._plan_lock:
            self._plans.clear()
            self._rate, self._random_actions = 0.0, []
        self.stall_s = self._default_stall_s
        self.retry_after = "0"
        self.clear_log()

    def close(self) -> None:
        self.closing.set()  # release stalled requests so shutdown does not wait for them
        super().close()
