"""Server subprocesses that die with the test session, and readiness checks.

Each server runs in its own process group (so stopping it stops its children too) with its
output in a log file that error messages point at. Three layers make sure none outlives the
session: the fixture's teardown, an atexit hook (Ctrl-C, a failed fixture), and on Linux
PR_SET_PDEATHSIG, which the kernel delivers even when pytest itself is killed.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
_running: set[ServerProcess] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_prctl = ctypes.CDLL(None).prctl if sys.platform == "linux" else None  # looked up before fork


def _die_with_parent() -> None:
    """In the child between fork and exec: SIGTERM when the parent dies (PR_SET_PDEATHSIG)."""
    if _prctl is not None:
        _prctl(1, signal.SIGTERM)


class ServerProcess:
    """One server subprocess; `stop()` is idempotent."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str | os.PathLike[str]],
        log_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [os.fspath(c) for c in cmd],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=REPO_ROOT,  # so `python -m tests.servers.<module>` finds the package
                start_new_session=True,  # its own process group
                preexec_fn=_die_with_parent,
            )
        _running.add(self)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        """Poll `ready()` until it is true; fail with the log tail if the process exits or
        `timeout` passes first."""
        deadline = time.monotonic() + timeout
        while not ready():
            code = self.proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {code} before {what}; "
                    f"log {self.log}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"{self.name}: no {what} within {timeout:.0f} s; "
                    f"log {self.log}:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def wait_http(
        self, url: str, timeout: float = 60.0, context: ssl.SSLContext | None = None
    ) -> None:
        """Wait until `url` answers with any HTTP status (a 4xx still means it is up);
        `context` verifies an https server's certificate."""
        self.wait_until(
            lambda: http_status(url, context=context) is not None, f"HTTP answer at {url}", timeout
        )

    def stop(self) -> None:
        """SIGTERM to the whole process group, SIGKILL after 5 s."""
        _running.discard(self)
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def direct_opener(context: ssl.SSLContext | None = None) -> urllib.request.OpenerDirector:
    """A urllib opener that ignores proxies from the environment (loopback servers must be
    reached directly) and verifies https servers with `context` when given."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


_direct = direct_opener()


def http_status(
    url: str, timeout: float = 2.0, context: ssl.SSLContext | None = None
) -> int | None:
    """The HTTP status `url` answers with, or None when nothing answers."""
    opener = _direct if context is None else direct_opener(context)
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, urllib.error.URLError):
        return None


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()
