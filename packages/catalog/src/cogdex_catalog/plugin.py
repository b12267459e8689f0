"""Registers the built-in catalog entries with cogdex."""

from __future__ import annotations

from cogdex.sdk import DatasetEntry, hookimpl
from cogdex_catalog import aef, earthsearch, planetary_computer


@hookimpl
def cogdex_datasets() -> list[DatasetEntry]:
    return [*earthsearch.ENTRIES, *planetary_computer.ENTRIES, *aef.ENTRIES]
