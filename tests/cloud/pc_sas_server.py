"""A local Planetary Computer SAS token API that mints real SAS tokens for Azurite.

`GET /api/sas/v1/token/{account}/{container}` answers `{"token": ..., "msft:expiry": ...}` as
https://planetarycomputer.microsoft.com/api/sas/v1/token does; the token is a service SAS
(read + list on the container), HMAC-signed with Azurite's well-known development key, valid
for `ttl` seconds, so Azurite accepts it until it expires and refuses it afterwards. Every
request is counted per (account, container), with the subscription key it carried.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import threading
from collections import Counter
from urllib.parse import quote

from tests.servers.background import BackgroundServer, JSONHandler

SAS_VERSION = "2021-08-06"
_PATH = re.compile(r"^/api/sas/v1/token/(?P<account>[a-z0-9]+)/(?P<container>[a-z0-9-]+)$")


def container_sas(account: str, key: str, container: str, expiry: dt.datetime) -> str:
    """A service SAS query string granting read and list on `container` until `expiry`."""
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    end = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = [
        "rl",  # signedPermissions
        start,
        end,
        f"/blob/{account}/{container}",  # canonicalizedResource
        "",  # signedIdentifier
        "",  # signedIP
        "https,http",  # signedProtocol
        SAS_VERSION,
        "c",  # signedResource: the container
        "",  # signedSnapshotTime
        "",  # signedEncryptionScope
        "", "", "", "", "",  # rscc, rscd, rsce, rscl, rsct
    ]  # fmt: skip
    digest = hmac.new(base64.b64decode(key), "\n".join(fields).encode(), hashlib.sha256)
    params = {
        "sv": SAS_VERSION,
        "st": start,
        "se": end,
        "sr": "c",
        "sp": "rl",
        "spr": "https,http",
        "sig": base64.b64encode(digest.digest()).decode(),
    }
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())


class SasTokenServer(BackgroundServer):
    """The token API on 127.0.0.1 in a thread; `sas_url` is what `PC_SDK_SAS_URL` takes."""

    thread_name = "pc-sas-api"
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, account: str, key: str, ttl: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.account = account
        self.key = key
        self.ttl = ttl
        self.requests: Counter[tuple[str, str]] = Counter()
        self.subscription_keys: list[str | None] = []
        self.tokens: list[str] = []
        self._lock = threading.Lock()

    @property
    def sas_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/sas/v1/token"

    def mint(self, account: str, container: str, subscription_key: str | None) -> dict[str, str]:
        # Whole seconds: a SAS expiry has no fraction, and the two must agree.
        expiry = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.ttl)).replace(microsecond=0)
        token = container_sas(account, self.key, container, expiry)
        with self._lock:
            self.requests[account, container] += 1
            self.subscription_keys.append(subscription_key)
            self.tokens.append(token)
        return {"msft:expiry": expiry.isoformat(), "token": token}


class _Handler(JSONHandler):
    server: SasTokenServer

    def do_GET(self) -> None:
        match = _PATH.match(self.path.split("?", 1)[0])
        if match is None or match.group("account") != self.server.account:
            self.reply(404, {"detail": f"no such storage account or container: {self.path}"})
            return
        key = self.headers.get("Ocp-Apim-Subscription-Key")
        self.reply(200, self.server.mint(match["account"], match["container"], key))
