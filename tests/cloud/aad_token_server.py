"""A local Microsoft identity platform (Azure AD) token endpoint for one service principal.

`POST /{tenant}/oauth2/v2.0/token` with the client-credentials grant (`grant_type`,
`client_id`, `client_secret`, `scope=https://storage.azure.com/.default`, form-encoded)
answers `{"token_type": "Bearer", "expires_in", "ext_expires_in", "access_token"}` as
https://login.microsoftonline.com does. The access token is an RS256 JWT with the claims Azure
Storage reads (`aud` https://storage.azure.com, `iss` https://sts.windows.net/{tenant}/, `iat`,
`nbf`, `exp`, `appid`, `tid`), signed with a key made at start-up: Azurite's basic OAuth
checks the claims, not the signature. Refusals have AAD's JSON error shape and status: 401
`invalid_client` for a wrong secret, 400 for an unknown tenant or client, a wrong grant type
or scope. It serves HTTPS only, as AAD does; every request is counted.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from tests.servers.background import BackgroundServer, JSONHandler
from tests.servers.tls import LocalTLS

STORAGE_SCOPE = "https://storage.azure.com/.default"
STORAGE_AUDIENCE = "https://storage.azure.com"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class AadTokenServer(BackgroundServer):
    """The token endpoint on https://127.0.0.1:<port> (`authority`, what obstore's
    `authority_host` / `AZURE_AUTHORITY_HOST` take) for `client_id` in `tenant`."""

    thread_name = "aad-token"
    daemon_threads = True
    request_queue_size = 1024

    def __init__(
        self, tls: LocalTLS, tenant: str, client_id: str, client_secret: str, ttl: int = 3600
    ) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        super().__init__(("127.0.0.1", 0), _Handler)
        self.socket = tls.server_context().wrap_socket(self.socket, server_side=True)
        self.tenant, self.client_id, self.client_secret, self.ttl = (
            tenant, client_id, client_secret, ttl,
        )  # fmt: skip
        self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.audience = STORAGE_AUDIENCE
        """The `aud` of the tokens it mints (another resource's, to see Azurite refuse them)."""
        self._lock = threading.Lock()
        self.tokens: list[str] = []
        """Every access token granted, in order."""
        self.refused: list[str] = []
        """The `error` of every refused request, in order."""

    @property
    def authority(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"

    def counts(self) -> tuple[int, int]:
        """(tokens granted, requests refused) so far."""
        with self._lock:
            return len(self.tokens), len(self.refused)

    def answer(self, tenant: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """(status, JSON body) for a token request to `tenant` with `form`."""
        if tenant != self.tenant:
            status, doc = 400, _error("invalid_request", 90002, f"Tenant '{tenant}' not found.")
        elif form.get("grant_type") != "client_credentials":
            status, doc = 400, _error("unsupported_grant_type", 70003, "Unsupported grant type.")
        elif form.get("client_id") != self.client_id:
            status, doc = (
                400,
                _error(
                    "unauthorized_client",
                    700016,
                    f"Application with identifier '{form.get('client_id')}' was not found in the "
                    f"directory '{tenant}'.",
                ),
            )
        elif form.get("client_secret") != self.client_secret:
            status, doc = 401, _error("invalid_client", 7000215, "Invalid client secret provided.")
        elif form.get("scope") != STORAGE_SCOPE:
            status, doc = 400, _error("invalid_scope", 70011, f"Invalid scope {form.get('scope')}.")
        else:
            token = self._mint()
            with self._lock:
                self.tokens.append(token)
            return 200, {"token_type": "Bearer", "expires_in": self.ttl,
                         "ext_expires_in": self.ttl, "access_token": token}  # fmt: skip
        with self._lock:
            self.refused.append(doc["error"])
        return status, doc

    def _mint(self) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": "cogdex-test"}
        claims = {
            "aud": self.audience,
            "iss": f"https://sts.windows.net/{self.tenant}/",
            "iat": now,
            "nbf": now - 300,  # AAD backdates nbf for clock skew
            "exp": now + self.ttl,
            "appid": self.client_id,
            "appidacr": "1",  # authenticated with a client secret
            "idtyp": "app",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)),
            "tid": self.tenant,
            "ver": "1.0",
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        signature = self._signing_key.sign(
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64url(signature)}"


def _error(error: str, code: int, message: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {message}",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
    }


class _Handler(JSONHandler):
    server: AadTokenServer
    content_type = "application/json; charset=utf-8"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            self._reply(404, {"error": "not_found"})
            return
        form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
        self._reply(*self.server.answer(parts[0], form))

    def _reply(self, status: int, doc: dict[str, Any]) -> None:
        self.reply(status, doc, {"Cache-Control": "no-store, no-cache"})
