"""Azure Blob: Azurite (npm package `azurite`, pinned) in a subprocess.

Azurite lives in `<repo>/.cache/node`. The fixture installs it there on first use when it is
missing and npm is available, so a plain `uv run pytest` works on a fresh machine that has
Node.js (`python -m tests.servers.azurite --install` does it ahead of time).

With `oauth=True` Azurite serves HTTPS and runs `--oauth basic`: it then accepts Azure AD
bearer tokens, checking their issuer, audience and lifetime but not their signature (its
README, "OAuth Configuration"; `BlobTokenAuthenticator.authenticateBasic`), and it refuses
bearer tokens over plain HTTP, hence the certificate.
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import hmac
import json
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers.objects import upload
from tests.servers.process import REPO_ROOT, ServerProcess, direct_opener, free_port
from tests.servers.tls import LocalTLS, local_tls

VERSION = "3.35.0"
PREFIX = REPO_ROOT / ".cache" / "node"
BLOB_BIN = PREFIX / "node_modules" / ".bin" / "azurite-blob"
# Azurite's documented development account: public, well-known values, not a secret.
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class AzureEmulator:
    """Azurite with two containers holding the same keys: `container` (private: reads need
    the account key or a SAS) and `public_container` (anonymous reads allowed)."""

    blob_endpoint: str
    """http://127.0.0.1:<port>/devstoreaccount1 (https:// with `tls`)"""
    container: str
    public_container: str
    process: ServerProcess
    account: str = ACCOUNT
    key: str = KEY
    tls: LocalTLS | None = None
    """The CA and certificate of an HTTPS Azurite (`oauth=True`); None over plain HTTP."""

    def url(self, key: str, container: str | None = None) -> str:
        """az://container@account/key"""
        return f"az://{container or self.container}@{self.account}/{key}"

    def https_url(self, key: str, container: str | None = None) -> str:
        """The public-cloud form of the same blob; `options` redirects it to Azurite."""
        return f"https://{self.account}.blob.core.windows.net/{container or self.container}/{key}"

    @property
    def endpoint_options(self) -> dict[str, Any]:
        """Store options that reach this Azurite and nothing more: its `endpoint`, and over
        HTTPS the obstore client option that trusts its CA (cogdex allows http itself)."""
        if self.tls is None:
            return {"endpoint": self.blob_endpoint}
        return {"endpoint": self.blob_endpoint, "client_options": self.client_options}

    @property
    def client_options(self) -> dict[str, Any]:
        """obstore client options for this Azurite's scheme."""
        if self.tls is None:
            return {"allow_http": True}
        return {"root_certificate": self.tls.ca_pem}

    @property
    def options(self) -> dict[str, Any]:
        """Store options (obstore Azure config keys) for `cogdex.io` reads with the key."""
        return {**self.endpoint_options, "account_key": self.key}

    @property
    def anonymous_options(self) -> dict[str, Any]:
        return {**self.endpoint_options, "skip_signature": True}

    @property
    def env(self) -> dict[str, str]:
        """The standard Azure variables that point SDKs and obstore at Azurite (for
        `monkeypatch.setenv`; the session's environment is left alone)."""
        base = self.blob_endpoint.rsplit("/", 1)[0]
        return {
            "AZURE_STORAGE_ACCOUNT_NAME": self.account,
            "AZURE_STORAGE_ACCOUNT_KEY": self.key,
            "AZURE_STORAGE_USE_EMULATOR": "true",
            "AZURITE_BLOB_STORAGE_URL": base,
            "AZURE_STORAGE_CONNECTION_STRING": (
                f"DefaultEndpointsProtocol={base.split(':', 1)[0]};AccountName={self.account};"
                f"AccountKey={self.key};BlobEndpoint={self.blob_endpoint};"
            ),
        }

    def store(self, container: str | None = None) -> Any:
        """A plain obstore AzureStore for `container`, authorised with the account key."""
        from obstore.store import AzureStore

        return AzureStore(
            container or self.container,
            account_name=self.account,
            account_key=self.key,
            endpoint=self.blob_endpoint,
            client_options=self.client_options,
        )


def installed_version() -> str | None:
    package = PREFIX / "node_modules" / "azurite" / "package.json"
    if not BLOB_BIN.exists() or not package.exists():
        return None
    return json.loads(package.read_text())["version"]


def install() -> Path:
    """Install the pinned Azurite into `PREFIX` unless it is there already."""
    if installed_version() == VERSION:
        return BLOB_BIN
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            f"Azurite {VERSION} is not installed in {PREFIX} and npm is not on PATH: install "
            "Node.js and npm (e.g. `apt-get install npm`), then rerun, or run .ci/run"
        )
    subprocess.run(
        [npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix", PREFIX,
         f"azurite@{VERSION}"],
        check=True,
    )  # fmt: skip
    return BLOB_BIN


def _create_container(
    base: str, name: str, public: bool, context: ssl.SSLContext | None = None
) -> None:
    """PUT a container with a SharedKey signature made by hand (obstore cannot create
    containers, and the Azure SDK is not a dependency); `context` verifies HTTPS."""
    headers = {"x-ms-date": email.utils.formatdate(usegmt=True), "x-ms-version": "2021-08-06"}
    if public:
        headers["x-ms-blob-public-access"] = "container"
    canonical = "".join(f"{k}:{headers[k]}\n" for k in sorted(headers))
    # Azurite's path-style URLs put the account in the path too, hence it appears twice.
    to_sign = f"PUT\n{chr(10) * 11}{canonical}/{ACCOUNT}/{ACCOUNT}/{name}\nrestype:container"
    digest = hmac.new(base64.b64decode(KEY), to_sign.encode(), hashlib.sha256).digest()
    headers["Authorization"] = f"SharedKey {ACCOUNT}:{base64.b64encode(digest).decode()}"
    request = urllib.request.Request(
        f"{base}/{ACCOUNT}/{name}?restype=container",
        method="PUT",
        headers={**headers, "Content-Length": "0"},
    )
    try:
        direct_opener(context).open(request, timeout=10).close()
    except urllib.error.HTTPError as e:
        if e.code != 409:  # 409: it exists already
            raise


def start_azurite(
    log_dir: Path, files: Mapping[str, Path], *, oauth: bool = False
) -> AzureEmulator:
    """Start Azurite (installing it first if needed), create both containers and upload
    `files` (key -> path) to each. `oauth`: HTTPS with a certificate from a throwaway CA,
    and Azure AD bearer tokens accepted (`--oauth basic`) besides keys and SAS."""
    executable = install()
    port = free_port()
    name = "azurite-oauth" if oauth else "azurite"
    tls = local_tls(log_dir, name) if oauth else None
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    args = [executable, "--blobHost", "127.0.0.1", "--blobPort", str(port),
            "--location", log_dir / f"{name}-data",
            "--skipApiVersionCheck", "--loose", "--disableTelemetry"]  # fmt: skip
    if tls is not None:
        args += ["--oauth", "basic", "--cert", tls.cert, "--key", tls.key]
    process = ServerProcess(name, args, log_dir)
    context = tls.client_context() if tls else None
    process.wait_http(f"{base}/", timeout=60, context=context)
    azure = AzureEmulator(f"{base}/{ACCOUNT}", "cogdex", "cogdex-public", process, tls=tls)
    _create_container(base, azure.container, public=False, context=context)
    _create_container(base, azure.public_container, public=True, context=context)
    for container in (azure.container, azure.public_container):
        upload(azure.store(container), files)
    return azure


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--install", action="store_true", help=f"install Azurite into {PREFIX}")
    if parser.parse_args().install:
        print(install())
