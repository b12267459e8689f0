"""Where an Earthdata Login token may be sent: NASA's Earthdata and DAAC hosts, over HTTPS.

The token opens every DAAC to its holder, so it goes to these hosts only. Redirects are
followed by obstore's HTTP client, which drops the Authorization header whenever a redirect
leaves the origin (a DAAC answers with a redirect to a signed S3/CloudFront URL that needs
no token), so a foreign host never sees it.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

DOMAINS = (
    "earthdata.nasa.gov",
    "earthdatacloud.nasa.gov",
    "eosdis.nasa.gov",
    "sci.gsfc.nasa.gov",
    "asf.alaska.edu",
    "nsidc.org",
    "daac.ornl.gov",
    "cr.usgs.gov",
)
"""Hosts at or under these domains are Earthdata/DAAC hosts."""

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def extra_hosts(value: str | Iterable[str] | None) -> frozenset[str]:
    """The `earthdata_hosts` store option: host names, comma-separated or as a list."""
    if not value:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else value
    return frozenset(h.strip().lower() for h in items if h.strip())


def token_allowed(url: str, extra: Iterable[str] = ()) -> bool:
    """Whether the token may go to `url`: an Earthdata/DAAC host (or one named in `extra`)
    over HTTPS; plain HTTP only for loopback hosts named in `extra` (test servers)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    named = set(extra)
    listed = host in named or any(host == d or host.endswith("." + d) for d in DOMAINS)
    if not listed:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK & named)
