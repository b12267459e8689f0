"""The on-disk cache of built collections: one index per name, keyed by its build arguments.

The folder is `collections` under `cogdex.cachedir.cache_root`. A build stores its key in
the index metadata: a hash of the arguments that change the result, then a hash of the
source's freshness (a static file's size and mtime, cogdex's format versions). The same call
again finds the key equal and loads the index without network; a changed source rebuilds
it; other arguments under the same name are a clash that `check_clash` refuses, so one name
never silently holds two queries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogdex.cachedir import cache_root
from cogdex.errors import BuildError, CogdexError

if TYPE_CHECKING:
    from cogdex.index.store import IndexFiles


def collection_path(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where collection `name` lives in the cache (a file, or a folder when partitioned)."""
    from cogdex.index.store import check_name

    return cache_root(cache_dir) / "collections" / f"{check_name(name)}.parquet"


def _canonical(value: Any) -> Any:
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): _canonical(v) for k, v in sorted(dict(value).items(), key=str)}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return repr(value)


def _digest(doc: Any) -> str:
    text = json.dumps(_canonical(doc), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cache_key(*, freshness: Any = None, **arguments: Any) -> str:
    """`<arguments hash>.<freshness hash>`: stable under keyword order; `freshness` is what
    may change under the same arguments (a source file's stat)."""
    from cogdex.index.schema import SCHEMA_VERSION
    from cogdex.tiff.model import HEADER_VERSION

    fresh = {"schema": SCHEMA_VERSION, "header": HEADER_VERSION, "source": freshness}
    return f"{_digest(arguments)}.{_digest(fresh)}"


def check_clash(name: str, path: Path, cached_key: str | None, key: str) -> None:
    """Refuse a build whose arguments differ from those that built the cached `name`.

    Replacing it would change what earlier Collections of that name (and their `location`)
    hold; keys of older cogdex versions (no arguments part) are rebuilt as before.
    """
    if cached_key is None or "." not in cached_key:
        return
    if cached_key.split(".")[0] != key.split(".")[0]:
        raise BuildError(
            f"collection {name!r} in the cache ({path}) was built with other arguments: give "
            f"this build another name, or force=True to replace it"
        )


def stat(path: str | os.PathLike[str]) -> list[int] | None:
    """[size, mtime_ns] of a local file (None if it is not there): what tells an edited
    source file, and so a stale cached collection, apart."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def file_stats(paths: Sequence[str]) -> list[list[Any]]:
    """[path, size, mtime_ns] of each of `paths` that exists: what `linked_fresh` compares."""
    return [[path, *found] for path in paths if (found := stat(path)) is not None]


def linked_fresh(source: Mapping[str, Any]) -> bool:
    """Whether the local files a static catalog links to (`source["linked_files"]`, written
    by the build) are as the build read them: an edited item file rebuilds the collection,
    as an edited named file does through the cache key's freshness."""
    linked = source.get("linked_files") or []
    return file_stats([p for p, _, _ in linked]) == [list(e) for e in linked]


def cached_index(path: Path) -> IndexFiles | None:
    """The index cached at `path` (its footers read), or None (absent, unreadable, old);
    its `meta.cache_key` says which arguments built it."""
    from cogdex.index.store import open_index

    try:
        return open_index(path)
    except CogdexError:
        return None


@dataclass(frozen=True)
class CachedCollection:
    name: str
    path: Path
    records: int
    bands: list[str]
    source: dict[str, Any]
    size_bytes: int


def list_cached(cache_dir: str | os.PathLike[str] | None = None) -> list[CachedCollection]:
    """Every readable collection in the cache, by name."""
    from cogdex.index.store import open_index, recover_folder

    folder = cache_root(cache_dir) / "collections"
    recover_folder(folder)
    out = []
    for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else ():
        try:
            files = open_index(path)
        except CogdexError:
            continue
        size = sum(Path(f).stat().st_size for f in files.files)
        out.append(
            CachedCollection(
                path.name.removesuffix(".parquet"),
                path,
                files.count(),
                list(files.meta.bands),
                dict(files.meta.source),
                size,
            )
        )
    return out


def delete_cached(name: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    from cogdex.index.store import delete, recover

    path = collection_path(name, cache_dir)
    recover(path)  # else a copy set aside by a killed rebuild would come back later
    if not path.exists():
        raise CogdexError(f"no cached collection {name!r} in {path.parent}")
    delete(path)
    return path


__all__ = [
    "CachedCollection",
    "cache_key",
    "cache_root",
    "cached_index",
    "check_clash",
    "collection_path",
    "delete_cached",
    "file_stats",
    "linked_fresh",
    "list_cached",
    "stat",
]
