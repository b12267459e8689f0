"""STAC API Item Search over HTTP(S), with the standard library.

The search is POSTed to the API's `/search` endpoint (the STAC API spec's path under the
landing page) and `next` links are followed (POST links with their body, merged into the
request's when they say so, or GET links) until the items run out or `max_items` is reached.
An API that serves search elsewhere answers 404/405 there; its landing page's `search` link
is used instead. pystac-client does the same through pystac and requests, whose imports cost
~0.18 s of every cold build (urllib: ~0.02 s). Proxies come from the environment as with
requests, and TLS trusts the system's roots plus certifi's (or `REQUESTS_CA_BUNDLE` /
`CURL_CA_BUNDLE` when set).
"""

from __future__ import annotations

import functools
import gzip
import http.client
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

TIMEOUT = 120.0
"""Seconds one request may take (connect + response)."""
PAGE_SIZE = 250
"""Items asked for per page (`limit`); APIs may return fewer."""
_MAX_REDIRECTS = 5


class SearchError(Exception):
    """A search the API refused (`status` set) or that never got an answer. Its message
    names the URL without the query string, which may hold the API's key."""

    def __init__(self, message: str, status: int | None = None) -> None:
        from cogdex.io.urls import redact_urls

        super().__init__(redact_urls(message))
        self.status = status


def search(
    api_url: str, body: Mapping[str, Any], *, max_items: int | None = None
) -> list[dict[str, Any]]:
    """Every item the API returns for this search `body` (STAC Item Search POST fields),
    at most `max_items`, as plain dicts."""
    items: list[dict[str, Any]] = []
    if max_items is not None and max_items <= 0:
        return items
    limit = PAGE_SIZE if max_items is None else min(PAGE_SIZE, max_items)
    for page in _pages(api_url, {"limit": limit, **body}):
        for item in page:
            items.append(item)
            if len(items) == max_items:  # no request for pages past it
                return items
    return items


def _pages(api_url: str, body: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
    endpoint, method = search_endpoint(api_url), "POST"
    try:
        page = _request(method, endpoint, body)
    except SearchError as exc:
        if exc.status not in (404, 405):
            raise
        endpoint, method = _linked_endpoint(api_url)
        page = _request(method, endpoint, body)
    seen: set[str] = set()
    while True:
        features = page.get("features")
        if not isinstance(features, list):
            raise SearchError(f"{endpoint} answered without a 'features' list")
        yield features
        link = next((x for x in page.get("links") or () if x.get("rel") == "next"), None)
        if not features or link is None or not link.get("href"):
            return
        method = str(link.get("method", "GET")).upper()
        if method == "POST":
            given = link.get("body")
            body = {**body, **given} if given and link.get("merge") else (given or body)
        step = json.dumps([link["href"], method, body if method == "POST" else None])
        if step in seen:  # an API that keeps pointing at the same page
            return
        seen.add(step)
        endpoint = link["href"]
        page = _request(method, endpoint, body if method == "POST" else None, link.get("headers"))


def search_endpoint(api_url: str) -> str:
    """The Item Search endpoint of an API given by its landing page (or by that endpoint)."""
    parts = urllib.parse.urlsplit(api_url)
    path = parts.path.rstrip("/")
    return parts._replace(path=path if path.endswith("/search") else f"{path}/search").geturl()


def _linked_endpoint(api_url: str) -> tuple[str, str]:
    """(href, method) of the landing page's `search` link, POST preferred."""
    landing = _request("GET", api_url, None)
    links = [x for x in landing.get("links") or () if x.get("rel") == "search" and x.get("href")]
    if not links:
        raise SearchError(f"{api_url} is not a STAC API: its landing page has no search link")
    post = [x for x in links if str(x.get("method", "GET")).upper() == "POST"]
    chosen = (post or links)[0]
    href = urllib.parse.urljoin(api_url, chosen["href"])
    return href, str(chosen.get("method", "GET")).upper()


def _request(
    method: str,
    url: str,
    body: Mapping[str, Any] | None,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One JSON request; the decoded answer, or SearchError naming the URL and the reason."""
    send = {
        "Accept": "application/geo+json, application/json",
        "Accept-Encoding": "gzip",
        "User-Agent": _user_agent(),  # not urllib's own: some CDNs turn "Python-urllib" away
    }
    send.update(headers or {})
    data = None
    if method == "POST":
        data = json.dumps(body or {}).encode()
        send["Content-Type"] = "application/json"
    elif body:
        url = _with_query(url, body)
    for _ in range(_MAX_REDIRECTS):
        request = urllib.request.Request(url, data=data, headers=send, method=method)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=_tls()) as response:
                raw = response.read()
                encoding = response.headers.get("Content-Encoding", "")
            break
        except urllib.error.HTTPError as exc:
            location = exc.headers.get("Location")
            if exc.code in (307, 308) and location:  # urllib follows these for GET only
                url = urllib.parse.urljoin(url, location)
                continue
            raise SearchError(f"{method} {url}: {exc.code} {_reason(exc)}", exc.code) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise SearchError(f"{method} {url}: {reason}") from exc
    else:
        raise SearchError(f"{method} {url}: more than {_MAX_REDIRECTS} redirects")
    if encoding == "gzip":
        raw = gzip.decompress(raw)
    try:
        answer = json.loads(raw)
    except ValueError as exc:
        raise SearchError(f"{method} {url} answered with something other than JSON") from exc
    if not isinstance(answer, dict):
        raise SearchError(f"{method} {url} answered with JSON that is not an object")
    return answer


def _reason(exc: urllib.error.HTTPError) -> str:
    """The API's own description of an error (STAC APIs answer {code, description})."""
    try:
        raw = exc.read()
        if exc.headers.get("Content-Encoding", "") == "gzip":
            raw = gzip.decompress(raw)
        detail = json.loads(raw)
    except (OSError, ValueError):
        return str(exc.reason)
    if isinstance(detail, dict):
        text = detail.get("description") or detail.get("detail") or detail.get("message")
        if text:
            return str(text)[:500]
    return str(exc.reason)


def _with_query(url: str, body: Mapping[str, Any]) -> str:
    """A GET search's URL: the POST fields as query parameters (STAC API's GET encoding)."""
    params: dict[str, str] = {}
    for key, value in body.items():
        if key in ("collections", "ids", "bbox"):
            params[key] = ",".join(str(v) for v in value)
        elif key == "filter":
            import cql2

            params[key] = cql2.Expr(value).to_text()
            params["filter-lang"] = "cql2-text"
        elif key == "filter-lang":
            continue
        elif isinstance(value, Mapping | list):
            params[key] = json.dumps(value)
        else:
            params[key] = str(value)
    joiner = "&" if urllib.parse.urlsplit(url).query else "?"
    return url + joiner + urllib.parse.urlencode(params)


@functools.cache
def _user_agent() -> str:
    from cogdex._version import __version__

    return f"cogdex/{__version__}"


@functools.cache
def _tls() -> ssl.SSLContext:
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        return ssl.create_default_context(cafile=bundle)
    context = ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        return context
    context.load_verify_locations(certifi.where())
    return context
