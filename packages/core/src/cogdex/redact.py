"""Credentials out of every URL cogdex stores or shows: errors, index metadata and logs
quote the URLs users give, and the userinfo, query string or fragment of a URL can carry a
password, an API key, a SAS token or a presigned signature.

The lowest module of cogdex (standard library only): `cogdex.errors` redacts every message
through it, and `cogdex.io.urls` refuses URLs it would have to redact.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

AZURE_SCHEMES = frozenset({"az", "azure", "abfs", "abfss", "adl"})
"""Azure's URL schemes: their `container@account` names a container before the `@`."""

_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")
_CLOSING = ".,;:!)]}"


def safe_url(url: str) -> str:
    """`url` as cogdex may store or show it: without userinfo (`user:password@`), query
    string or fragment, the parts of a URL that carry credentials (passwords, API keys, SAS
    tokens, presigned signatures). The one exception is Azure's `abfs://container@account`,
    whose userinfo is a container name (kept unless it holds a `:` password). Paths and
    URLs with none of these come back unchanged."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. a broken IPv6 host: nothing after the scheme can be trusted
        return url.split("://", 1)[0] + "://<unparsable URL>"
    netloc = parts.netloc.rpartition("@")[2] if has_userinfo(url) else parts.netloc
    if netloc == parts.netloc and not parts.query and not parts.fragment and "?" not in url:
        return url
    return urlunsplit(parts._replace(netloc=netloc, query="", fragment=""))


def has_userinfo(url: str) -> bool:
    """Whether `url` names a user (and password) before its host. Azure's
    `abfs://container@account` names a container there: userinfo only with a `:` password."""
    parts = urlsplit(url)
    info, at, _host = parts.netloc.rpartition("@")
    return bool(at) and (parts.scheme.lower() not in AZURE_SCHEMES or ":" in info)


def redact_urls(text: str) -> str:
    """`text` with every URL in it made `safe_url`: what error messages go through, since
    they quote URLs given by users and the errors of the stores and servers they reach.
    Punctuation that ends a URL is the sentence's (`(url)`, `url: reason`) and stays."""

    def safe(match: re.Match[str]) -> str:
        url = match.group().rstrip(_CLOSING)
        return safe_url(url) + match.group()[len(url) :]

    return _URL_IN_TEXT.sub(safe, text)


__all__ = ["AZURE_SCHEMES", "has_userinfo", "redact_urls", "safe_url"]
