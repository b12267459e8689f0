"""Local stand-ins for NASA Earthdata, speaking its protocols on 127.0.0.1.

- `DaacServer`: a DAAC's HTTPS data host (plain HTTP on loopback): files under `/protected/`
  need `Authorization: Bearer <token>` (401 otherwise); `/away/<key>` redirects to another
  origin (as DAACs redirect to signed S3/CloudFront URLs) and `/home/<key>` to the same
  origin; `/s3credentials` hands out temporary S3 keys to token holders, in the DAAC's JSON.
- `OpenFileServer`: that other origin, serving the files to anyone and logging the
  Authorization header of every request (it must never see the token; the GCS tests use it
  as a bucket's XML API).
- `EdlServer`: Earthdata Login's token API over HTTPS (a certificate from a test CA):
  `POST /api/users/find_or_create_token` with HTTP basic auth answers the user's token.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from pathlib import Path

from cogdex.testing import RangeHandler, RangeServer
from tests.servers.background import BackgroundServer, JSONHandler
from tests.servers.tls import LocalTLS


class _AuthLogging(RangeHandler):
    server: DaacServer | OpenFileServer

    def log_auth(self) -> None:
        with self.server.auth_lock:
            self.server.auth_log.append((self.url_path(), self.headers.get("Authorization")))


class _DaacHandler(_AuthLogging):
    server: DaacServer

    def serve(self, head: bool) -> None:
        self.log_auth()
        path = self.url_path()
        authorised = self.headers.get("Authorization") == f"Bearer {self.server.token}"
        if path.startswith("/away/"):
            self.redirect(f"{self.server.foreign.url}/{path.removeprefix('/away/')}")
        elif path.startswith("/home/"):
            self.redirect(f"/protected/{path.removeprefix('/home/')}")
        elif not authorised:
            self.send_status(401, {"WWW-Authenticate": 'Bearer realm="Earthdata Login"'})
        elif path == "/s3credentials":
            self.send_json(self.server.s3_credentials())
        elif path.startswith("/protected/"):
            self.send_file(path.removeprefix("/protected"), head)
        else:
            self.send_status(404)

    def redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def send_json(self, doc: dict[str, str]) -> None:
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _OpenFileHandler(_AuthLogging):
    def serve(self, head: bool) -> None:
        self.log_auth()
        self.send_file(self.url_path(), head)


class OpenFileServer(RangeServer):
    """Files under `root` for anyone, at http://localhost:<port> (another origin than
    127.0.0.1), with the Authorization header of each request in `auth_log`."""

    def __init__(self, root: Path, log_path: Path) -> None:
        super().__init__(root, log_path, handler=_OpenFileHandler)
        self.auth_log: list[tuple[str, str | None]] = []
        self.auth_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server_address[1]}"


class DaacServer(RangeServer):
    """A DAAC data host for `root` that accepts one bearer `token`."""

    def __init__(self, root: Path, log_path: Path, token: str, foreign: OpenFileServer) -> None:
        super().__init__(root, log_path, handler=_DaacHandler)
        self.token = token
        self.foreign = foreign
        self.auth_log: list[tuple[str, str | None]] = []
        self.auth_lock = threading.Lock()
        self.s3_keys = ("testing", "testing")

    def s3_credentials(self) -> dict[str, str]:
        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
        return {
            "accessKeyId": self.s3_keys[0],
            "secretAccessKey": self.s3_keys[1],
            "sessionToken": "daac-session",
            "expiration": expiry.isoformat(sep=" ", timespec="seconds"),
        }

    def count(self, path: str) -> int:
        with self.auth_lock:
            return sum(1 for p, _ in self.auth_log if p == path)


class _EdlHandler(JSONHandler):
    server: EdlServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        expected = base64.b64encode(f"{self.server.user}:{self.server.password}".encode())
        authorised = self.headers.get("Authorization") == f"Basic {expected.decode()}"
        with self.server.lock:
            self.server.logins.append(authorised)
        if self.path != "/api/users/find_or_create_token" or not authorised:
            self.reply(401, {"error": "invalid_credentials"})
        else:
            self.reply(200, {"access_token": self.server.token, "token_type": "Bearer",
                             "expiration_date": "12/31/2099"})  # fmt: skip


class EdlServer(BackgroundServer):
    """Earthdata Login's token API on https://127.0.0.1:<port> for one user."""

    thread_name = "edl"
    daemon_threads = True

    def __init__(self, tls: LocalTLS, user: str, password: str, token: str):
        super().__init__(("127.0.0.1", 0), _EdlHandler)
        self.socket = tls.server_context().wrap_socket(self.socket, server_side=True)
        self.tls = tls
        self.user, self.password, self.token = user, password, token
        self.logins: list[bool] = []
        self.lock = threading.Lock()

    @property
    def host(self) -> str:
        """What `EARTHDATA_HOST` takes."""
        return f"127.0.0.1:{self.server_address[1]}"
