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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cogdex.collection import Collection, from_files
from cogdex.errors import BuildError, MissingPluginError
from cogdex.index import cache as C
from cogdex.index import schema as S
from cogdex.index import stac
from cogdex.index.stac import Bbox, DateRange, Items, date_bounds
from cogdex.io.stores import public_options
from cogdex.read.bbox import check_bbox

if TYPE_CHECKING:
    import pyarrow as pa

    # The build machinery loads when a build runs: a cached collection's load (a cold
    # process's first call) does without it.
    from cogdex.datasets import DatasetEntry
    from cogdex.index.build import BandsArg
    from cogdex.index.stac_api import Modifier


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
    return C.stat(Path(text.removeprefix("file://")).expanduser())


_TRANSIENT = frozenset({"FetchError", "DeadlineExceededError"})
"""The skipped reasons of a fetch that failed after its retries (5xx, 429, resets, stalls),
not of an answer about the file (`NotFoundError`, `AccessDeniedError`, a bad TIFF)."""


def _cached_or_build(
    name: str,
    key: str,
    *,
    cache: bool,
    cache_dir: str | os.PathLike[str] | None,
    force: bool,
    items_fn: Callable[[], Sequence[Mapping[str, Any]]],
    source: Mapping[str, Any],
    bands: BandsArg,
    band_index: Mapping[str, int] | None,
    href_rewrites: Mapping[str, str] | None,
    store_options: Mapping[str, Any] | None,
    collection: str | None,
    strict: bool,
    progress: bool | None,
    client: object,
    placed_by_headers: Callable[[pa.Table], pa.Table] | None = None,
) -> Collection:
    """The cached collection when its key is `key`, else a build of `items_fn()`'s items,
    its rows passed through `placed_by_headers` (a filter that needs the headers' footprints:
    a table's bbox over rows without a geometry) before they are written."""
    from cogdex import plugins

    executor = None if client is None else plugins.build_executor(client)
    path = C.collection_path(name, cache_dir)
    cached = C.cached_index(path) if cache and not force else None
    if cached is not None:
        if cached.meta.cache_key == key:
            if C.linked_fresh(cached.meta.source):
                return from_files(cached, store_options)  # footers read once: check, load
        else:
            C.check_clash(name, path, cached.meta.cache_key, key)
    from cogdex.index.build import build_rows

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
    failed = [s for s in built.skipped if s["reason"].split(":", 1)[0] in _TRANSIENT]
    if failed:
        import warnings

        warnings.warn(
            f"{len(failed)} header(s) could not be fetched after retries (e.g. "
            f"{failed[0]['href']}: {failed[0]['reason']}); collection {name!r} lacks those "
            "records' assets (see its skipped), and the same call builds it again rather "
            "than load it from the cache",
            UserWarning,
            stacklevel=3,
        )
    meta = S.IndexMetadata(
        name=name,
        bands=built.bands,
        source=dict(source),
        store_options=public_options(store_options),
        skipped=tuple(built.skipped),
        # no key, no reuse: a fault that passes must not keep records out of the collection
        cache_key=key if cache and not failed else None,
    )
    from cogdex.index.store import write

    table = built.table  # already in the order the file keeps (see build_rows)
    if placed_by_headers is not None:
        table = placed_by_headers(table)
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
    """Index the items of a STAC API search, or of static STAC files.

    A static source (an ItemCollection, catalog, item or ndjson file, on disk or at a URL)
    needs no `collection`: the search arguments are applied locally, as an API applies them.
    An API is searched with pystac-client (`cogdex.index.stac_api`). The headers of all
    files are fetched concurrently. The result is cached under `name`: the same call again
    loads it without network; a changed source file rebuilds it; other arguments under a
    cached name are refused unless `force=True`, which rebuilds and replaces it (Collections
    loaded from the old file then raise `StaleIndexError` rather than read the new rows).
    For a search this cannot express, search yourself and pass the items to
    `build_from_items`.

    Args:
        stac_api_url: A STAC API's root URL, or the path or URL of a static STAC file.
        collection: The API's collection id (required for an API; static sources: keep
            the items of this collection, None keeps all).
        name: The cache name: 1-128 letters, digits, '.', '_' or '-'.
        bbox: (xmin, ymin, xmax, ymax) in lon/lat: keep the items that intersect it
            (across the antimeridian: west > east, e.g. `(170, -20, -170, -10)`).
        date_range: (start, end) as dates, datetimes or ISO strings (None or ".." for an
            open side; a bare end date means the whole day): keep the items whose time
            overlaps it, their `datetime` or their `start_datetime`..`end_datetime` range
            (annual products have `datetime: null`).
        query: STAC query-extension terms, e.g. `{"eo:cloud_cover": {"lt": 20}}`.
        filter: CQL2 as a cql2-json dict or string, or cql2-text; checked against the CQL2
            schema before anything is fetched (static sources evaluate it per item).
        ids: Keep only these item ids.
        sortby: The API's sort order (APIs only).
        fields: The API's fields-extension argument (APIs only).
        max_items: Stop after this many items.
        headers: HTTP headers sent with every API request (APIs only), e.g. a token.
        modifier: Called on every page of items (e.g. `planetary_computer.sign_inplace`),
            or on each item of a static source. Neither it nor `headers` is part of the
            cache key: a rotated token still finds the cached collection.
        bands: Band names (asset keys, band names or common names the assets declare, or
            `"asset:i"` for sample i), or a mapping name -> asset key or (asset key,
            band_index); None indexes every GeoTIFF asset that any item has, each sample
            of a multi-band file its own band (`"asset:i"` where the item names none).
        band_index: name -> the band's sample in its asset, for names mapped to a bare
            asset key (default 0).
        href_rewrites: Prefix -> replacement, applied to every asset href before it is
            stored (e.g. an https mirror -> its s3:// bucket).
        store_options: How the files are reached (endpoint, region, `request_payer`,
            ...). The index keeps them without secrets, and reads of the collection use
            them (give the secrets again to `load`).
        strict: Raise on any asset whose header cannot be read, instead of recording it
            in `collection.skipped`.
        progress: Show a progress bar of the header fetch; None shows one on a terminal.
        cache: Write the index to the cache and reuse it; False builds in memory only.
        cache_dir: The cache folder (default: `$COGDEX_CACHE_DIR`, else the per-user cache).
        force: Rebuild and replace a cached collection of this name whatever it holds.
        client: Fetch the headers on a Dask cluster's workers: a `distributed.Client`, a
            scheduler address (`"tcp://host:8786"`: connected for the build, closed after)
            or `"active"` for the current client (needs `cogdex[dask]`). The collection is
            the one a build without it makes, written by this process; the cache key leaves
            `client` out, so either build loads the other's (see docs/scale-out.md).

    Returns:
        The collection, one row per item with a readable band asset.

    Raises:
        GeometryError: `bbox` is not 4 finite lon/lat numbers with south <= north.
        BuildError: Bad arguments (no `collection` for an API, an API-only argument for a
            static source, a bad `filter`, `date_range` or `name`, bands the items do not
            have), a search the API refused or a source that cannot be read, no readable
            header at all, any unreadable one with `strict=True`, or other arguments under
            a cached `name` without `force=True`, or a `client` no plugin takes.
        MissingPluginError: `client` without `cogdex[dask]` installed.
        IndexWriteError: The index could not be written to the cache.
    """
    if bbox is not None:
        check_bbox(bbox, across=True)
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
    source: dict[str, Any] = {
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
            # after pystac-client's import, whose CPU time it would only share, and after
            # pystac's extension hooks, which the search's landing page needs first.
            importlib.import_module("pystac_client")
            from cogdex.index.build import prepare
            from cogdex.index.stac_api import extension_hooks

            hooks = extension_hooks()
            threading.Thread(
                target=prepare, args=(hooks,), name="cogdex-prepare", daemon=True
            ).start()
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
                hooks=hooks,
            )
        read: set[str] = set()
        found = stac.read_static(location, read)
        # the local files a catalog links to: the key's freshness has the named file's stat
        # only (remote files have none, as a remote named file has none)
        from cogdex.io.urls import parse_url

        read.discard(stac.as_url(location))
        linked = C.file_stats(sorted(parse_url(u).key for u in read if u.startswith("file://")))
        if linked:
            source["linked_files"] = linked
        if modifier is not None:
            for item in found:
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
    """Index STAC items found by your own search, so any client, signing or filter can
    feed cogdex.

    The cache key hashes the items' content (ids, properties, geometry, asset hrefs without
    their query strings, so re-signed hrefs are the same items): the same items again load
    the cached collection; other items under the same name are refused unless `force=True`.

    Args:
        items: pystac Items or item dicts, an ItemCollection (pystac's or its dict), a
            pystac-client `ItemSearch`, or an iterable of those
            (`client.search(...).items()`).
        name: The cache name: 1-128 letters, digits, '.', '_' or '-'.
        bands: As in `build_from_stac`.
        band_index: As in `build_from_stac`.
        href_rewrites: As in `build_from_stac`.
        store_options: As in `build_from_stac`.
        strict: As in `build_from_stac`.
        progress: As in `build_from_stac`.
        cache: As in `build_from_stac`.
        cache_dir: As in `build_from_stac`.
        force: As in `build_from_stac`.
        client: As in `build_from_stac`.

    Returns:
        The collection, one row per item with a readable band asset.

    Raises:
        BuildError: Something that is not a STAC item among `items`, a bad `name`, bands
            the items do not have, no readable header at all, any unreadable one with
            `strict=True`, or other items under a cached `name` without `force=True`.
        IndexWriteError: The index could not be written to the cache.
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
    table: str | os.PathLike[str] | Any,
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
    """Index a table that lists TIFF URLs: a stac-geoparquet export, or one URL column per
    file. Rows without a geometry get their footprint from the file's header. Cached as
    `build_from_stac` caches (a changed local table, or other values in memory, rebuild).

    Args:
        table: A Parquet file or folder, local or at an object-store URL; or a table in
            memory: a `pyarrow.Table`, or any object with the Arrow stream interface
            (`__arrow_c_stream__`: a pandas or polars DataFrame, a DuckDB result,
            `GeoDataFrame.to_arrow()`, whose geometry column is WKB).
        name: The cache name: 1-128 letters, digits, '.', '_' or '-'.
        href_columns: The URL columns, each its own asset, or asset key -> URL column.
            None: the table's `assets` struct, else its one URL column as asset `data`.
        columns: Role (`id`, `datetime`, `geometry`, `crs`, `href`) -> column name, where
            a role cannot be inferred from the column names.
        bbox: (xmin, ymin, xmax, ymax) in lon/lat: keep the rows that intersect it
            (across the antimeridian: west > east, e.g. `(170, -20, -170, -10)`); a row
            without a geometry by its header's footprint, once that is read.
        date_range: (start, end): keep the rows whose time overlaps it (see
            `build_from_stac`).
        bands: As in `build_from_stac`.
        band_index: As in `build_from_stac`.
        href_rewrites: As in `build_from_stac`.
        store_options: As in `build_from_stac`; also used to read the table.
        strict: As in `build_from_stac`.
        progress: As in `build_from_stac`.
        cache: As in `build_from_stac`.
        cache_dir: As in `build_from_stac`.
        force: As in `build_from_stac`.
        client: As in `build_from_stac`.

    Returns:
        The collection, one row per table row with a readable band asset.

    Raises:
        GeometryError: `bbox` is not 4 finite lon/lat numbers with south <= north.
        BuildError: No table at the path or URL, or one that cannot be read (or converted
            to Arrow), columns that
            cannot be found, a bad `date_range` or `name`, no row that meets `bbox`, no
            readable header at all, any unreadable one with `strict=True`, or other
            arguments under a cached `name` without `force=True`.
        IndexWriteError: The index could not be written to the cache.
    """
    from cogdex.index.table import arrow_table, items_from_table, read_table, table_digest

    box = None if bbox is None else check_bbox(bbox, across=True)
    if isinstance(table, str | os.PathLike):
        location = os.fspath(table)
        stored: dict[str, Any] = {"table": _stored_location(location)}
        stat = _stat(location)

        def rows_table() -> pa.Table:
            return read_table(location, store_options)
    else:
        given = arrow_table(table)
        stored = {"table": "<in-memory table>", "digest": table_digest(given)}
        stat = None

        def rows_table() -> pa.Table:
            return given

    source = {
        "type": "table",
        **stored,
        "columns": dict(columns or {}),
        "href_columns": _bands_key(href_columns),
        "search": {
            k: v
            for k, v in {"bbox": bbox, "date_range": _date_key(date_range)}.items()
            if v is not None
        },
    }
    key = C.cache_key(
        source=source,
        freshness=_freshness(stat, store_options),
        **_build_key(bands, band_index, href_rewrites),
    )

    unplaced = False

    def items() -> list[dict[str, Any]]:
        nonlocal unplaced
        rows = items_from_table(rows_table(), href_columns=href_columns, columns=columns)
        if bbox is None and date_range is None:
            return rows
        # a row without a geometry is placed by its header: the bbox can only test it once
        # the headers are read (`within_bbox`); before, it has nothing to meet the bbox
        bare = {id(r) for r in rows if r.get("geometry") is None} if bbox is not None else set()
        unplaced = bool(bare)
        kept = stac.filter_items([r for r in rows if id(r) not in bare], bbox=bbox,
                                 date_range=date_range)  # fmt: skip
        later = stac.filter_items([r for r in rows if id(r) in bare], date_range=date_range)
        keep = {id(r) for r in (*kept, *later)}
        return [r for r in rows if id(r) in keep]

    def within_bbox(table: pa.Table) -> pa.Table:
        """The built rows whose footprint meets `bbox`, as `subset(bbox=)` keeps them,
        when some had none before their header was read."""
        if not unplaced or box is None:
            return table
        from cogdex.index import query as Q

        table = Q.apply(table, [*Q.bbox_conditions(box), Q.Parts(box)])
        if not table.num_rows:
            raise BuildError(f"no row of the table meets bbox {box}: nothing to index")
        return table

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
        placed_by_headers=within_bbox,
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
    """Index a catalog dataset (`cogdex datasets list`) over a bbox and date range, with the
    band names, href rewrites and store options its catalog entry gives. Datasets behind a
    cloud's credentials need that cloud's plugin. Cached as `build_from_stac` caches.

    Args:
        dataset_id: The catalog id, e.g. `"sentinel-2-l2a"` (`cogdex datasets list`).
        name: The cache name: 1-128 letters, digits, '.', '_' or '-'.
        bbox: (xmin, ymin, xmax, ymax) in lon/lat: keep the items that intersect it
            (across the antimeridian: west > east, e.g. `(170, -20, -170, -10)`).
        date_range: (start, end): keep the items whose time overlaps it (see
            `build_from_stac`).
        query: STAC query-extension terms (datasets served by a STAC API only).
        filter: CQL2 (datasets served by a STAC API only; see `build_from_stac`).
        bands: The dataset's band names to index; None indexes all of them.
        store_options: Merged over the dataset's own store options.
        strict: As in `build_from_stac`.
        progress: As in `build_from_stac`.
        cache: As in `build_from_stac`.
        cache_dir: As in `build_from_stac`.
        force: As in `build_from_stac`.
        client: As in `build_from_stac`.

    Returns:
        The collection, one row per item with a readable band asset.

    Raises:
        UnknownDatasetError: No installed plugin provides `dataset_id` (the message lists
            close matches).
        MissingPluginError: The dataset needs a cloud plugin that is not installed (the
            message names the extra to install).
        GeometryError: `bbox` is not 4 finite lon/lat numbers with south <= north.
        BuildError: Bands the dataset does not have, `query`/`filter` for a dataset that
            is a table, and everything `build_from_stac` and `build_from_table` raise it
            for.
        IndexWriteError: The index could not be written to the cache.
    """
    from cogdex import plugins
    from cogdex.datasets import StacSource

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
