"""The public builds: a STAC API or static STAC files, a table of TIFF URLs, or a catalog
dataset -> a cached `Collection`.

Each build hashes the arguments that change its result into a cache key; when the cached
collection of that name has the same key it is loaded (no network); when only its source
changed it is rebuilt and replaced atomically (a failed build leaves the old one); other
arguments under a cached name are refused unless `force=True` (see `cache.check_clash`).
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from cogdex.collection import Collection, from_files
from cogdex.datasets import DatasetEntry, StacSource
from cogdex.errors import BuildError, MissingPluginError
from cogdex.index import cache as C
from cogdex.index import schema as S
from cogdex.index import stac
from cogdex.index.build import BandsArg, build_rows, prepare
from cogdex.index.stac import Bbox, DateRange, Items, date_bounds
from cogdex.index.stac_api import Modifier
from cogdex.io.stores import public_options
from cogdex.read.bbox import check_bbox


def _date_key(date_range: DateRange | None) -> list[str | None] | None:
    if date_range is None:
        return None
    lo, hi = date_bounds(date_range)
    return [None if lo is None else lo.isoformat(), None if hi is None else hi.isoformat()]


def _bands_key(bands: BandsArg) -> Any:
    if bands is None or isinstance(bands, str):
        return bands
    if isinstance(bands, Mapping):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in bands.items()}
    return list(bands)


def _build_key(
    bands: BandsArg,
    band_index: Mapping[str, int] | None,
    href_rewrites: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The cache-key arguments every build shares: what is indexed of each item."""
    return {"bands": _bands_key(bands), "band_index": band_index, "href_rewrites": href_rewrites}


def _freshness(stat: list[int] | None, store_options: Mapping[str, Any] | None) -> list[Any]:
    """The key's freshness part: a source file's stat, and how the files are reached
    (endpoint, region, timeouts): another value rebuilds, never clashes."""
    return [stat, public_options(store_options)]


def _stored_location(location: str) -> str:
    """A source as the index records it: an absolute path, or a URL without the userinfo
    and query string that may carry its credentials (an API key), which the cache key
    leaves out too, so a rotated key still finds the cached collection."""
    from cogdex.redact import safe_url

    return safe_url(location) if "://" in location else str(Path(location).resolve())


def _stat(location: str | os.PathLike[str]) -> list[int] | None:
    """(size, mtime) of a local source file, so editing it invalidates the cache."""
    text = os.fspath(location)
    if "://" in text and not text.startswith("file://"):
        return None
    path = Path(text.removeprefix("file://")).expanduser()
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _cached_or_build(
    name: str,
    key: str,
    *,
    cache: bool,
    cache_dir: str | os.PathLike[str] | None,
    force: bool,
    items_fn: Any,
    source: Mapping[str, Any],
    bands: BandsArg,
    band_index: Mapping[str, int] | None,
    href_rewrites: Mapping[str, str] | None,
    store_options: Mapping[str, Any] | None,
    collection: str | None,
    strict: bool,
    progress: bool | None,
    client: object,
) -> Collection:
    from cogdex import plugins

    executor = None if client is None else plugins.build_executor(client)
    path = C.collection_path(name, cache_dir)
    cached = C.cached_index(path) if cache and not force else None
    if cached is not None:
        if cached.meta.cache_key == key:
            return from_files(cached, store_options)  # footers read once: key check and load
        C.check_clash(name, path, cached.meta.cache_key, key)
    items = items_fn()
    built = build_rows(
        items,
        bands=bands,
        band_index=band_index,
        href_rewrites=href_rewrites,
        store_options=store_options,
        collection=collection,
        strict=strict,
        progress=progress,
        executor=executor,
    )
    meta = S.IndexMetadata(
        name=name,
        bands=built.bands,
        source=dict(source),
        store_options=public_options(store_options),
        skipped=tuple(built.skipped),
        cache_key=key if cache else None,
    )
    from cogdex.index.store import write

    table = built.table  # already in the order the file keeps (see build_rows)
    if not cache:
        return Collection(table, meta, read_options=store_options)
    return Collection(table, meta, location=write(table, meta, path), read_options=store_options)


def build_from_stac(
    stac_api_url: str | os.PathLike[str],
    collection: str | None = None,
    *,
    name: str,
    bbox: Bbox | None = None,
    date_range: DateRange | None = None,
    query: Mapping[str, Any] | None = None,
    filter: Mapping[str, Any] | str | None = None,
    ids: Sequence[str] | None = None,
    sortby: str | Sequence[str] | None = None,
    fields: Sequence[str] | None = None,
    max_items: int | None = None,
    headers: Mapping[str, str] | None = None,
    modifier: Modifier | None = None,
    bands: BandsArg = None,
    band_index: Mapping[str, int] | None = None,
    href_rewrites: Mapping[str, str] | None = None,
    store_options: Mapping[str, Any] | None = None,
    strict: bool = False,
    progress: bool | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    client: object = None,
) -> Collection:
    """Index the items of a STAC API search, or of static STAC files (an ItemCollection,
    catalog, item or ndjson file, on disk or at a URL: then `collection` may be None and the
    search arguments are applied locally, as an API applies them).

    `date_range` keeps the items whose time overlaps it: their `datetime`, or their
    `start_datetime`..`end_datetime` range (annual products have `datetime: null`).
    `filter` is CQL2 (a cql2-json dict or string, or cql2-text), checked against the CQL2
    schema before anything is fetched; static sources evaluate it per item with cql2 (see
    `cogdex.index.stac.filter_items`).

    An API is searched with pystac-client (`cogdex.index.stac_api`): `sortby` and `fields`
    are its arguments (APIs only); `headers` go with every request and `modifier` is called
    on every page of items (e.g. `planetary_computer.sign_inplace`; on each item of a static
    source). Neither is part of the cache key: a rotated token still finds the cache. For a
    search this cannot express, search yourself and pass the items to `build_from_items`.

    `bands`: band names (asset keys, or band names/common names the assets declare, or
    `"asset:i"`), or a mapping name -> asset key / (asset key, band_index); None indexes
    every GeoTIFF asset. Headers of all files are fetched concurrently; failures are kept
    in `collection.skipped` (`strict=True` raises instead). The result is cached under
    `name`; the same call again loads it without network. Other arguments under a cached
    name raise `BuildError`; `force=True` rebuilds and replaces it (Collections loaded from
    the old file then raise `StaleIndexError` rather than read the new one's rows).

    `client=` (a `dask.distributed.Client`, or `"active"` for the current one; needs
    `cogdex[dask]`) fetches the headers on the cluster's workers, part by part; the rows,
    their order and the written collection are those of a build without it, and the driver
    writes the collection (the cache key leaves `client` out: either build loads the other's).
    """
    if bbox is not None:
        check_bbox(bbox)
    location = os.fspath(stac_api_url)
    static = stac.is_static(location)
    if not static and not collection:
        raise BuildError(f"a STAC API search needs a collection id ({location})")
    if static and (sortby or fields or headers):
        raise BuildError(f"sortby=, fields= and headers= apply to STAC APIs, not {location}")
    if filter is not None:
        stac.parse_filter(filter)  # a bad filter fails here, not after a search or a read
    search = {
        "bbox": list(bbox) if bbox is not None else None,
        "date_range": _date_key(date_range),
        "query": query,
        "filter": filter,
        "ids": list(ids) if ids else None,
        "sortby": sortby if sortby is None or isinstance(sortby, str) else list(sortby),
        "fields": list(fields) if fields else None,
        "max_items": max_items,
    }
    source = {
        "type": "stac-static" if static else "stac-api",
        "url": _stored_location(location),
        "collection": collection,
        "search": {k: v for k, v in search.items() if v is not None},
    }
    key = C.cache_key(
        source=source,
        freshness=_freshness(_stat(location) if static else None, store_options),
        **_build_key(bands, band_index, href_rewrites),
    )

    def items() -> list[dict[str, Any]]:
        if not static:
            assert collection is not None
            # The header fetch's set-up loads while the search waits on the API (`prepare`),
            # after pystac-client's import, whose CPU time it would only share.
            importlib.import_module("pystac_client")
            threading.Thread(target=prepare, name="cogdex-prepare", daemon=True).start()
            return stac.search(
                location,
                collection,
                bbox=bbox,
                date_range=date_range,
                query=query,
                filter=filter,
                ids=ids,
                sortby=sortby,
                fields=fields,
                max_items=max_items,
                headers=headers,
                modifier=modifier,
            )
        found = stac.read_static(location)
        for item in found if modifier is not None else ():
            modifier(item)
        return stac.filter_items(
            found,
            collection=collection,
            bbox=bbox,
            date_range=date_range,
            query=query,
            filter=filter,
            ids=ids,
            max_items=max_items,
        )

    return _cached_or_build(
        name,
        key,
        cache=cache,
        cache_dir=cache_dir,
        force=force,
        items_fn=items,
        source=source,
        bands=bands,
        band_index=band_index,
        href_rewrites=href_rewrites,
        store_options=store_options,
        collection=collection,
        strict=strict,
        progress=progress,
        client=client,
    )


def build_from_items(
    items: Items,
    *,
    name: str,
    bands: BandsArg = None,
    band_index: Mapping[str, int] | None = None,
    href_rewrites: Mapping[str, str] | None = None,
    store_options: Mapping[str, Any] | None = None,
    strict: bool = False,
    progress: bool | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    client: object = None,
) -> Collection:
    """Index STAC items found by your own search: pystac Items or item dicts, an
    ItemCollection (pystac's or its dict), a pystac-client `ItemSearch`, or an iterable of
    those (`client.search(...).items()`), so any client, signing or filter can feed cogdex.

    The cache key hashes the items' content (ids, properties, geometry, asset hrefs without
    their query strings, so re-signed hrefs are the same items): the same items again load
    the cached collection; other items under the same name raise `BuildError` unless
    `force=True`. The other arguments are `build_from_stac`'s.
    """
    found = stac.item_dicts(items)
    source = {"type": "stac-items", "items": len(found), "digest": stac.items_digest(found)}
    key = C.cache_key(
        source=source,
        freshness=_freshness(None, store_options),
        **_build_key(bands, band_index, href_rewrites),
    )
    return _cached_or_build(
        name,
        key,
        cache=cache,
        cache_dir=cache_dir,
        force=force,
        items_fn=lambda: found,
        source=source,
        bands=bands,
        band_index=band_index,
        href_rewrites=href_rewrites,
        store_options=store_options,
        collection=None,
        strict=strict,
        progress=progress,
        client=client,
    )


def build_from_table(
    path_or_url: str | os.PathLike[str],
    *,
    name: str,
    href_columns: Sequence[str] | Mapping[str, str] | None = None,
    columns: Mapping[str, str] | None = None,
    bbox: Bbox | None = None,
    date_range: DateRange | None = None,
    bands: BandsArg = None,
    band_index: Mapping[str, int] | None = None,
    href_rewrites: Mapping[str, str] | None = None,
    store_options: Mapping[str, Any] | None = None,
    strict: bool = False,
    progress: bool | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    client: object = None,
) -> Collection:
    """Index a Parquet table that lists TIFF URLs (a stac-geoparquet export, or one URL
    column per file). `columns` maps roles (`id`, `datetime`, `geometry`, `crs`, `href`) to
    column names where they cannot be inferred; `href_columns` names the URL column(s)
    (a mapping gives them asset keys). Rows without a geometry get their footprint from
    the file's header. `client=` fetches the headers on a Dask cluster, as in
    `build_from_stac`."""
    from cogdex.index.table import items_from_table, read_table

    if bbox is not None:
        check_bbox(bbox)
    location = os.fspath(path_or_url)
    source = {
        "type": "table",
        "table": _stored_location(location),
        "columns": dict(columns or {}),
        "href_columns": _bands_key(href_columns),  # type: ignore[arg-type]
        "search": {
            k: v
            for k, v in {"bbox": bbox, "date_range": _date_key(date_range)}.items()
            if v is not None
        },
    }
    key = C.cache_key(
        source=source,
        freshness=_freshness(_stat(location), store_options),
        **_build_key(bands, band_index, href_rewrites),
    )

    def items() -> list[dict[str, Any]]:
        rows = items_from_table(
            read_table(location, store_options), href_columns=href_columns, columns=columns
        )
        if bbox is None and date_range is None:
            return rows
        for row in rows:
            geometry = row.get("geometry")
            if isinstance(geometry, bytes) and bbox is not None:
                import shapely

                row["bbox"] = list(shapely.from_wkb(geometry).bounds)
        return stac.filter_items(rows, bbox=bbox, date_range=date_range)

    return _cached_or_build(
        name,
        key,
        cache=cache,
        cache_dir=cache_dir,
        force=force,
        items_fn=items,
        source=source,
        bands=bands,
        band_index=band_index,
        href_rewrites=href_rewrites,
        store_options=store_options,
        collection=None,
        strict=strict,
        progress=progress,
        client=client,
    )


def dataset_store_options(entry: DatasetEntry) -> dict[str, Any]:
    """The store options a catalog entry's files are read with: its own `store_options`,
    plus the flags that make its cloud plugin claim them (`request_payer` for requester-pays
    buckets, `planetary_computer` or `earthdata` for those sign-ins). They are kept in the
    index, so reads of a loaded collection are signed the same way."""
    options: dict[str, Any] = dict(entry.store_options)
    if entry.requester_pays:
        options["request_payer"] = True
    if entry.auth == "planetary-computer":
        options["planetary_computer"] = True
    if entry.auth == "earthdata":
        options["earthdata"] = True
    return options


def build(
    dataset_id: str,
    *,
    name: str,
    bbox: Bbox | None = None,
    date_range: DateRange | None = None,
    query: Mapping[str, Any] | None = None,
    filter: Mapping[str, Any] | str | None = None,
    bands: Sequence[str] | None = None,
    store_options: Mapping[str, Any] | None = None,
    strict: bool = False,
    progress: bool | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    force: bool = False,
    client: object = None,
) -> Collection:
    """Index a catalog dataset (`cogdex datasets list`) over a bbox and date range, with its
    band names, href rewrites and store options. Datasets behind a cloud's credentials need
    that cloud's plugin; without it the error names the extra to install."""
    from cogdex import plugins

    entry = plugins.dataset(dataset_id)
    if entry.cloud and not plugins.loaded(entry.cloud):
        raise MissingPluginError(f"dataset {dataset_id!r}", entry.cloud)
    options = {**dataset_store_options(entry), **(store_options or {})}
    band_map: BandsArg = None
    if entry.bands:
        wanted = list(bands) if bands is not None else list(entry.bands)
        unknown = [b for b in wanted if b not in entry.bands]
        if unknown:
            raise BuildError(
                f"dataset {dataset_id!r} has no band(s) {unknown}; it has {', '.join(entry.bands)}"
            )
        band_map = {b: (entry.bands[b], entry.band_index.get(b, 0)) for b in wanted}
    elif bands is not None:
        band_map = list(bands)
    common: dict[str, Any] = {
        "name": name,
        "bbox": bbox,
        "date_range": date_range,
        "bands": band_map,
        "href_rewrites": dict(entry.href_rewrites),
        "store_options": options,
        "strict": strict,
        "progress": progress,
        "cache": cache,
        "cache_dir": cache_dir,
        "force": force,
        "client": client,
    }
    if isinstance(entry.source, StacSource):
        return build_from_stac(
            entry.source.api_url, entry.source.collection, query=query, filter=filter, **common
        )
    if query is not None or filter is not None:
        raise BuildError(
            f"dataset {dataset_id!r} is a table: query=/filter= apply to STAC APIs; filter "
            f"the collection with Collection.where()"
        )
    columns = dict(entry.source.columns)
    href = columns.pop("href", None)
    return build_from_table(
        entry.source.url,
        href_columns={"data": href} if href else None,
        columns=columns,
        **common,
    )


__all__ = [
    "build",
    "build_from_items",
    "build_from_stac",
    "build_from_table",
    "dataset_store_options",
]
