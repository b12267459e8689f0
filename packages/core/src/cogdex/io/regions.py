"""S3 bucket regions, asked of the endpoint once per bucket and process.

An S3 request signed for the wrong region fails (301 PermanentRedirect or 400), and obstore
does not follow S3's redirects, so `s3://bucket/key` URLs, which carry no region, need one.
S3 answers a HEAD on a bucket with an `x-amz-bucket-region` header whatever the outcome
(200, a 301 to the right region, 403 for private or requester-pays buckets), so one anonymous
request tells. S3-compatible endpoints may not send the header; the region is then unknown
and the caller falls back to its configured one.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.request

TIMEOUT = 3.0
"""Seconds to wait for the answer (once per bucket and process)."""

_cache: dict[str, str | None] = {}
_lock = threading.Lock()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # the 301 itself carries the header


_opener = urllib.request.build_opener(_NoRedirects)


def bucket_url(bucket: str, endpoint: str | None = None) -> str:
    """The URL a region HEAD goes to: path-style at a custom endpoint, else AWS's global
    endpoint (virtual-hosted, or path-style for dotted names that break TLS wildcards)."""
    if endpoint:
        return f"{endpoint.rstrip('/')}/{bucket}"
    if "." in bucket:
        return f"https://s3.amazonaws.com/{bucket}"
    return f"https://{bucket}.s3.amazonaws.com"


def bucket_region(bucket: str, endpoint: str | None = None) -> str | None:
    """The region the endpoint reports for `bucket`, or None when it does not say (or does
    not answer within `TIMEOUT`). An answer is cached per bucket and endpoint for the
    process, and forked children inherit it; no answer (a timeout, a reset) is not, so one
    network blip does not leave the bucket without its region for good."""
    url = bucket_url(bucket, endpoint)
    with _lock:
        if url in _cache:
            return _cache[url]
        try:
            region = _ask(url)
        except (OSError, ValueError):
            return None
        _cache[url] = region
        return region


def answered(bucket: str, endpoint: str | None = None) -> bool:
    """Whether the endpoint has answered the region question for `bucket` in this process."""
    return bucket_url(bucket, endpoint) in _cache


def _ask(url: str) -> str | None:
    request = urllib.request.Request(url, method="HEAD")
    try:
        with _opener.open(request, timeout=TIMEOUT) as response:
            return response.headers.get("x-amz-bucket-region")
    except urllib.error.HTTPError as error:  # an answer: 301 and 403 name the region too
        return error.headers.get("x-amz-bucket-region")


__all__ = [
    "answered",
    "bucket_region",
]
