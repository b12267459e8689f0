"""S3: moto in server mode, in a subprocess, under waitress.

moto's own `moto_server` runs werkzeug's dev server, which closes the connection after each
response; waitress keeps HTTP/1.1 connections alive, as S3 does, so request counts and
timings look like the real thing. moto checks no signatures and no bucket policies by
default: anonymous and signed requests both succeed. moto 5 does not implement requester
pays either (it accepts the setting and forgets it), so `RequesterPays` adds S3's rule in
front of it: once a bucket is set to Payer=Requester, requests without
`x-amz-request-payer: requester` get 403 AccessDenied.

Run as `python -m tests.servers.s3 --port N` (what `start_s3` does).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from tests.servers.objects import upload
from tests.servers.process import ServerProcess, free_port

REGION = "us-east-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"


@dataclass(frozen=True)
class S3Emulator:
    """moto S3 with two buckets holding the same keys: `bucket` (anonymous-readable) and
    `requester_pays_bucket` (Payer=Requester: reads need `request_payer`)."""

    endpoint: str
    bucket: str
    requester_pays_bucket: str
    process: ServerProcess

    def url(self, key: str, bucket: str | None = None) -> str:
        return f"s3://{bucket or self.bucket}/{key}"

    @property
    def options(self) -> dict[str, Any]:
        """Store options (obstore S3 config keys) for `cogdex.io` reads with the test keys."""
        return {
            "endpoint": self.endpoint,
            "region": REGION,
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET_ACCESS_KEY,
        }

    @property
    def anonymous_options(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "region": REGION, "skip_signature": True}

    @property
    def env(self) -> dict[str, str]:
        """The standard AWS variables that point boto3, obstore and GDAL at the emulator
        (for `monkeypatch.setenv`; the session's environment is left alone)."""
        return {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def store(self, bucket: str | None = None, **config: Any) -> Any:
        """A plain obstore S3Store for `bucket`, signed with the test keys."""
        from obstore.store import S3Store

        return S3Store(
            bucket or self.bucket,
            endpoint=self.endpoint,
            region=REGION,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            client_options={"allow_http": True},
            **config,
        )


def start_s3(log_dir: Path, files: Mapping[str, Path]) -> S3Emulator:
    """Start moto, create both buckets and upload `files` (key -> path) to each."""
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = ServerProcess(
        "moto-s3", [sys.executable, "-m", "tests.servers.s3", "--port", str(port)], log_dir
    )
    process.wait_http(f"{endpoint}/", timeout=60)
    s3 = S3Emulator(endpoint, "cogdex", "cogdex-requester-pays", process)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    for bucket in (s3.bucket, s3.requester_pays_bucket):
        client.create_bucket(Bucket=bucket)
    public_read = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": [f"arn:aws:s3:::{s3.bucket}", f"arn:aws:s3:::{s3.bucket}/*"],
            }
        ],
    }
    client.put_bucket_policy(Bucket=s3.bucket, Policy=json.dumps(public_read))
    for bucket in (s3.bucket, s3.requester_pays_bucket):
        upload(s3.store(bucket), files)
    client.put_bucket_request_payment(
        Bucket=s3.requester_pays_bucket, RequestPaymentConfiguration={"Payer": "Requester"}
    )
    return s3


_XML = '<?xml version="1.0" encoding="UTF-8"?>\n'
_ACCESS_DENIED = f"{_XML}<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
_PAYMENT = (
    f'{_XML}<RequestPaymentConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    "<Payer>{}</Payer></RequestPaymentConfiguration>"
)
StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RequesterPays:
    """WSGI middleware: PUT/GET `?requestPayment` and S3's requester-pays rule (path-style
    requests, which is what the tests send to an IP endpoint)."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.buckets: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        bucket = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
        method = environ["REQUEST_METHOD"]
        if "requestPayment" in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True):
            if method == "PUT":
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                match = re.search(rb"<Payer>\s*(\w+)\s*</Payer>", body)
                with self._lock:
                    if match and match.group(1) == b"Requester":
                        self.buckets.add(bucket)
                    else:
                        self.buckets.discard(bucket)
                return _reply(start_response, "200 OK", "")
            if method == "GET":
                payer = "Requester" if bucket in self.buckets else "BucketOwner"
                return _reply(start_response, "200 OK", _PAYMENT.format(payer))
        requester = environ.get("HTTP_X_AMZ_REQUEST_PAYER", "").lower() == "requester"
        if bucket in self.buckets and not requester:
            return _reply(start_response, "403 Forbidden", _ACCESS_DENIED)
        return self.app(environ, start_response)


def _reply(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    data = body.encode()
    start_response(
        status, [("Content-Type", "application/xml"), ("Content-Length", str(len(data)))]
    )
    return [data]


def main() -> None:
    import waitress
    from moto.server import DomainDispatcherApplication, create_backend_app

    parser = argparse.ArgumentParser(description="moto S3 under waitress")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = RequesterPays(DomainDispatcherApplication(create_backend_app))
    waitress.serve(
        app,
        host="127.0.0.1",
        port=args.port,
        threads=16,
        backlog=1024,
        connection_limit=2000,
        channel_timeout=300,
        ident="moto-s3",
    )


if __name__ == "__main__":
    main()
