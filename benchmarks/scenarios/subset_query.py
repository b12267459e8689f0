"""The subset both candidates of the index-subset scenario run (stdlib only)."""

from __future__ import annotations

import hashlib

BBOX = (9.99, 47.99, 10.01, 48.01)
DATES = ("2021-03-01", "2021-08-31")
CLOUD_LT = 30.0


def ids_digest(ids: list[str]) -> str:
    return hashlib.sha1("\n".join(sorted(ids)).encode()).hexdigest()[:16]
