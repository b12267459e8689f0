"""GeoParquet files of an index: atomic writes, spatially sorted row groups, lazy reads.

A collection is one Parquet file, or (large ones spanning several years) a folder of one
file per year. Rows are sorted by a Hilbert curve over bbox centres so neighbouring scenes
share row groups, and statistics are written only for the filter columns (not the thousands
of header leaves), which keeps footers small: a bbox/date filter prunes row groups from
footer statistics alone. Rows reach a file in that order a few row groups at a time, so a
write holds little beyond the table it is given. Every write goes to a hidden temporary name
first and is renamed into place, so a failed or interrupted write leaves the previous
collection as it was; a folder swap killed between its two renames is undone by the next
open or write (`recover`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from cogdex.errors import (
    BuildError,
    CogdexError,
    ExportError,
    IndexSchemaError,
    IndexWriteError,
    ObjectChangedError,
    StaleIndexError,
    StoreError,
)
from cogdex.index import arrays as A
from cogdex.index import query as Q
from cogdex.index import schema as S
from cogdex.io.urls import parse_url
from cogdex.redact import safe_url

ROW_GROUP_ROWS = 2048
"""Rows per row group: a bbox filter over a large index reads a handful of these."""
PARTITION_ROWS = 100_000
"""Above this many rows (and more than one year), `partition="auto"` writes one file per year."""
OPEN_AHEAD = 4
"""Files of a partitioned index opened at once, on as many threads (at most one per core)."""

_WKB_NAMES = {
    1: "Point",
    2: "LineString",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


def geo_metadata(table: pa.Table) -> dict[str, Any]:
    """The GeoParquet 1.1 `geo` metadata of an index table (CRS84 WKB, bbox covering); only
    its `bbox` and `geometry` columns are read."""
    bbox = A.contiguous(table.column("bbox"))
    extent = []
    if len(table):
        for key, reduce in (("xmin", np.min), ("ymin", np.min), ("xmax", np.max), ("ymax", np.max)):
            values = A.to_numpy(bbox.field(key), fill=np.nan)
            values = values[np.isfinite(values)]
            extent.append(float(reduce(values)) if len(values) else 0.0)
    column: dict[str, Any] = {
        "encoding": "WKB",
        "geometry_types": _geometry_types(table.column("geometry")),
        "covering": {"bbox": {k: ["bbox", k] for k in ("xmin", "ymin", "xmax", "ymax")}},
    }
    if extent:
        column["bbox"] = extent
    return {"version": "1.1.0", "primary_column": "geometry", "columns": {"geometry": column}}


def _geometry_types(column: pa.ChunkedArray) -> list[str]:
    """Distinct geometry types, read from the WKB headers without parsing geometries."""
    found: set[str] = set()
    for chunk in column.chunks:
        if len(chunk) == 0:
            continue
        chunk = chunk.cast(pa.binary()) if chunk.type != pa.binary() else chunk
        valid = A.valid(chunk)
        bounds = np.frombuffer(chunk.buffers()[1], np.int32)
        offsets = bounds[chunk.offset : chunk.offset + len(chunk)][valid]
        data = np.frombuffer(chunk.buffers()[2], np.uint8)
        little = data[offsets] == 1
        b = [data[offsets + k].astype(np.uint32) for k in range(1, 5)]
        code = np.where(
            little,
            b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24),
            b[3] | (b[2] << 8) | (b[1] << 16) | (b[0] << 24),
        )
        for c in A.distinct(code).tolist():
            iso = c & 0x0FFFFFFF  # ISO codes count dimensions in thousands, EWKB sets flags
            base, dims = iso % 1000, iso // 1000
            name = _WKB_NAMES.get(base)
            if name:
                found.add(name + (" Z" if dims in (1, 3) or c & 0x80000000 else ""))
    return sorted(found)


# -- sorting ---------------------------------------------------------------------------------


def hilbert_index(x: np.ndarray, y: np.ndarray, order: int = 16) -> np.ndarray:
    """Position along a Hilbert curve of the integer cell (x, y) in a 2**order grid."""
    n = 1 << order
    x = x.astype(np.int64).copy()
    y = y.astype(np.int64).copy()
    d = np.zeros(len(x), np.int64)
    s = n >> 1
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx.astype(np.int64)) ^ ry.astype(np.int64))
        flip = ~ry & rx
        x = np.where(flip, n - 1 - x, x)
        y = np.where(flip, n - 1 - y, y)
        swap = ~ry
        x, y = np.where(swap, y, x), np.where(swap, x, y)
        s >>= 1
    return d


def spatial_order(table: pa.Table) -> np.ndarray:
    """Row order by (year, Hilbert index of the bbox centre in lon/lat)."""
    if len(table) < 2:
        return np.arange(len(table))
    bbox = A.contiguous(table.column("bbox"))
    bounds = np.column_stack([A.to_numpy(bbox.field(k)) for k in ("xmin", "ymin", "xmax", "ymax")])
    return order_of(bounds, A.to_numpy(table.column("datetime")))


def order_of(bounds: np.ndarray, moments: np.ndarray) -> np.ndarray:
    """`spatial_order` of records given their (n, 4) lon/lat bounds and datetime64 times."""
    cx = (bounds[:, 0] + bounds[:, 2]) / 2
    cy = (bounds[:, 1] + bounds[:, 3]) / 2
    cells = (1 << 16) - 1
    gx = np.clip(np.nan_to_num((cx + 180) / 360 * cells), 0, cells)
    gy = np.clip(np.nan_to_num((cy + 90) / 180 * cells), 0, cells)
    return np.lexsort((hilbert_index(gx, gy), _year(moments)))


def _year(moments: np.ndarray) -> np.ndarray:
    """UTC year of datetime64 values (-1 for NaT)."""
    years = moments.astype("datetime64[Y]")
    return np.where(np.isnat(years), -1, years.astype(np.int64) + 1970)


def _years(table: pa.Table) -> np.ndarray:
    return _year(A.to_numpy(table.column("datetime")))


# -- writing ---------------------------------------------------------------------------------


def _stat_columns(schema: pa.Schema) -> list[str]:
    """Leaf paths that get min/max statistics: scalars and the bbox, never header leaves."""
    out = []
    for f in schema:
        if f.name == "assets" or f.name == "geometry":
            continue
        if f.name == "bbox":
            out += [f"bbox.{k}" for k in ("xmin", "ymin", "xmax", "ymax")]
        elif not pa.types.is_nested(f.type):
            out.append(f.name)
    return out


GATHER_ROWS = 4 * ROW_GROUP_ROWS
"""Rows put into file order at a time: what a write holds beyond the table it is given (a
sorted copy of a 450,000-scene table would double its memory)."""


def _write_file(
    table: pa.Table, meta: S.IndexMetadata, target: Path | pa.NativeFile, rows: np.ndarray
) -> None:
    """One Parquet file of `table`'s `rows`, in that order, streamed a few row groups at a
    time; its pages carry CRCs, as a flipped byte can decode to other offsets.

    The bytes are those of `pq.write_table` of `A.take(table, rows)`: the row groups are
    the same slices of the same values, only never all in memory at once."""
    run = len(rows) == 0 or (rows[-1] - rows[0] == len(rows) - 1 and _consecutive(rows))
    if run:  # a slice: no copy at all
        part = table.slice(int(rows[0]) if len(rows) else 0, len(rows))
        located = part.select(["bbox", "geometry"])
    elif len(rows) == len(table):  # the `geo` metadata does not depend on the order
        located = table.select(["bbox", "geometry"])
    else:  # column by column: a table's take of many chunks holds far more than its result
        located = pa.table({k: A.take(table.column(k), rows) for k in ("bbox", "geometry")})
    with open_writer(table.schema, located, meta, target) as writer:
        if run:
            writer.write_table(part, row_group_size=ROW_GROUP_ROWS)
            return
        gather = _Gather(table)
        for start in range(0, len(rows), GATHER_ROWS):
            writer.write_batch(gather(rows[start : start + GATHER_ROWS]), ROW_GROUP_ROWS)


def open_writer(
    schema: pa.Schema, located: pa.Table, meta: S.IndexMetadata, target: Path | pa.NativeFile
) -> pq.ParquetWriter:
    """A writer of one index file whose rows have `located`'s bbox and geometry columns:
    the file's `geo` metadata is known before its first row group, so rows can arrive in
    batches of `ROW_GROUP_ROWS` multiples (`write_table(..., row_group_size=ROW_GROUP_ROWS)`)."""
    own = (S.GEO_KEY, S.METADATA_KEY)
    kept = {k: v for k, v in (schema.metadata or {}).items() if k not in own}
    metadata = {
        **kept,
        S.GEO_KEY: json.dumps(geo_metadata(located)).encode(),
        S.METADATA_KEY: meta.to_json(),
    }
    schema = schema.with_metadata(metadata)
    return pq.ParquetWriter(
        target,
        schema,
        compression="zstd",
        write_statistics=_stat_columns(schema),
        write_page_checksum=True,
    )


def _consecutive(rows: np.ndarray) -> bool:
    return bool((np.diff(rows) == 1).all())


class _Gather:
    """Rows of a table by position, as one record batch: a take per record batch they fall
    in, then one to restore their order (a take across a table's chunks would concatenate
    whole columns for every call)."""

    def __init__(self, table: pa.Table):
        self.batches = table.to_batches()  # zero-copy, chunk boundaries shared by columns
        self.starts = np.cumsum([0] + [b.num_rows for b in self.batches])

    def __call__(self, rows: np.ndarray) -> pa.RecordBatch:
        which = np.searchsorted(self.starts, rows, side="right") - 1
        by_batch = np.argsort(which, kind="stable")
        cuts = np.flatnonzero(np.diff(which[by_batch])) + 1
        pieces = []
        for group in np.split(by_batch, cuts):
            k = int(which[group[0]])
            pieces.append(A.take(self.batches[k], rows[group] - self.starts[k]))
        gathered = pieces[0] if len(pieces) == 1 else pa.concat_batches(pieces)
        back = np.empty(len(rows), np.int64)
        back[by_batch] = np.arange(len(rows))
        return A.take(gathered, back)


def _check_hrefs(table: pa.Table) -> None:
    """Refuse hrefs that carry credentials (userinfo, a query string): a build never keeps
    one, but a table given to `as_collection` or `extend` may hold them."""
    if "assets" not in table.column_names:
        return
    assets = table.column("assets")
    for k, field in enumerate(assets.type):
        if not pa.types.is_struct(field.type) or "href" not in field.type.names:
            continue
        for chunk in assets.chunks:
            hrefs = chunk.field(k).field("href")
            if not _may_hold_credentials(hrefs):
                continue
            for href in set(hrefs.to_pylist()):
                if href is not None and safe_url(href) != href:
                    raise ExportError(
                        f"asset {field.name!r} has an href with a user name, password or query "
                        f"string, which an index never holds: {safe_url(href)}; rewrite the "
                        "hrefs and pass credentials in store_options"
                    )


def _may_hold_credentials(hrefs: pa.Array) -> bool:
    """Whether any href's bytes contain '@', '?' or '#': one vectorised pass over the string
    data (pyarrow.compute costs ~50 ms to import in every cold build), URL parsing only then."""
    if len(hrefs) == 0 or hrefs.null_count == len(hrefs):
        return False
    wide = pa.types.is_large_string(hrefs.type)
    offsets = np.frombuffer(hrefs.buffers()[1], np.int64 if wide else np.int32)
    offsets = offsets[hrefs.offset : hrefs.offset + len(hrefs) + 1]
    data = np.frombuffer(hrefs.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return bool(np.isin(data, np.frombuffer(b"@?#", np.uint8)).any())


STALE_AFTER = 15 * 60
"""Seconds without a change after which a temporary is a killed writer's: a live writer changes
its file as each row group lands, so a write never deletes a concurrent one's temporary."""
_TMP = re.compile(r"tmp-[0-9a-f]{12}")
_OLD = re.compile(r"old-(\d+)-[0-9a-f]{12}")
_SET_ASIDE = re.compile(r"\.(.+)\.old-\d+-[0-9a-f]{12}")
_YEAR_FILE = re.compile(r"-?\d+\.parquet")
"""The files of a partitioned index: one per year (-1 for records without a date)."""


def _temporary(path: Path) -> Path:
    return path.parent / f".{path.name}.tmp-{uuid.uuid4().hex[:12]}"


def _set_aside(path: Path) -> Path:
    """Where a swap moves the index it replaces; the time orders copies for `recover`."""
    return path.parent / f".{path.name}.old-{time.time_ns()}-{uuid.uuid4().hex[:12]}"


def _siblings(path: Path, pattern: re.Pattern[str]) -> list[tuple[re.Match[str], Path]]:
    """cogdex's hidden siblings of `path` (`.name.` then `pattern`), nothing else."""
    prefix = f".{path.name}."
    try:
        names = [entry.name for entry in os.scandir(path.parent)]
    except OSError:
        return []
    found = []
    for name in names:
        match = pattern.fullmatch(name, len(prefix)) if name.startswith(prefix) else None
        if match:
            found.append((match, path.parent / name))
    return found


def recover(path: Path) -> None:
    """Put back the index that a writer killed mid-swap moved aside (`path` gone, its newest
    `.old-*` copy there), so `path` holds the previous index rather than none."""
    if path.exists() or path.is_symlink():
        return
    olds = _siblings(path, _OLD)
    if not olds:
        return
    old = max(olds, key=lambda found: int(found[0].group(1)))[1]
    try:
        if old.is_dir():
            os.rename(old, path)  # fails onto anything that appeared meanwhile
            return
        try:
            os.link(old, path)  # a file: never over a concurrent writer's new one
        except FileExistsError:
            return
        except OSError:  # no hard links on this filesystem
            os.rename(old, path)
            return
        os.unlink(old)
    except OSError:
        pass  # restored by another process first, or a folder this process cannot change


def recover_folder(folder: Path) -> None:
    """`recover` every index in `folder` that a killed swap left set aside."""
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return
    for name in names:
        match = _SET_ASIDE.fullmatch(name)
        if match:
            recover(folder / match.group(1))


def _tidy(path: Path) -> None:
    """Before a write: `recover`, then delete the copies finished swaps set aside and the
    temporaries of killed writers (unchanged for `STALE_AFTER`); only those of `path`."""
    recover(path)
    now = time.time()
    for _, tmp in _siblings(path, _TMP):
        if now - _last_change(tmp) > STALE_AFTER:
            remove(tmp)
    if path.exists():
        for _, old in _siblings(path, _OLD):
            remove(old)


def _last_change(path: Path) -> float:
    """Newest mtime of `path` and, for a folder, of its files (the one being written)."""
    try:
        inner = [e.stat().st_mtime for e in os.scandir(path)] if path.is_dir() else []
        return max([path.stat().st_mtime, *inner])
    except OSError:
        return time.time()  # changing under us: a live writer's


Parts = list[tuple[int | None, np.ndarray]]
"""The files of a write: (year, or None for a single file; the table's rows, in order)."""


def write(
    table: pa.Table,
    meta: S.IndexMetadata,
    destination: str | os.PathLike[str],
    *,
    partition: bool | None = None,
    store_options: Mapping[str, Any] | None = None,
) -> str:
    """Write `table` as a GeoParquet index at a local path or object-store URL; returns it.

    `partition` None (auto) writes one file per year when the table has more than
    `PARTITION_ROWS` rows spanning several years; True/False force either layout.
    """
    _check_hrefs(table)
    order = spatial_order(table)  # the rows are written in this order, never copied sorted
    years = _years(table)[order] if len(table) else np.zeros(0, np.int64)
    distinct = A.distinct(years)
    if partition is None:
        partition = len(table) > PARTITION_ROWS and len(distinct) > 1
    dest = os.fspath(destination)
    if partition and not len(table):
        raise IndexWriteError(
            "an empty collection has no year to partition by: export it without "
            "partition=True (one file that keeps the schema)",
            path=safe_url(dest),
        )
    parts: Parts = _parts(order, years, distinct) if partition else [(None, order)]
    parsed = parse_url(dest)
    if parsed.kind != "local":
        return _write_remote(table, meta, dest, parts, store_options)
    path = Path(parsed.key)
    try:
        _write_local(table, meta, path, parts)
    except OSError as exc:
        raise IndexWriteError(_reason(exc), path=str(path)) from exc
    return str(path)


def _write_local(table: pa.Table, meta: S.IndexMetadata, path: Path, parts: Parts) -> None:
    """`write` to a local file, or a folder of yearly `parts`, through a temporary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _tidy(path)
    tmp = _temporary(path)
    try:
        if parts[0][0] is not None:
            tmp.mkdir()
            for year, rows in parts:
                _write_file(table, meta, tmp / f"{year}.parquet", rows)
        else:
            _write_file(table, meta, tmp, parts[0][1])
        _replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


def _reason(exc: OSError) -> str:
    """The OS's words for a failed write (Arrow's own message names the temporary)."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def export_target(
    destination: str | os.PathLike[str],
    name: str,
    *,
    overwrite: bool = False,
    store_options: Mapping[str, Any] | None = None,
) -> str:
    """Where an export of collection `name` to `destination` goes, refusing before any write
    whatever would lose data.

    A destination ending in a separator, or an existing folder that is not itself an index,
    is a folder to write `<name>.parquet` into (created if needed). The resulting path must
    not exist, or, with `overwrite`, must hold a cogdex index: nothing else is ever replaced.
    """
    text = os.fspath(destination)
    parsed = parse_url(text)
    if parsed.kind != "local":
        return _remote_target(text, name, overwrite, store_options)
    path = Path(parsed.key)
    into = text.endswith(("/", os.sep))
    folder = path.is_dir()
    index_folder = folder and _is_local_index(path)  # reads each yearly file's schema once
    if into and index_folder:
        raise ExportError(
            f"{path} is a partitioned cogdex index, not a folder to write into: export to "
            f"{text.rstrip('/' + os.sep)} with overwrite=True to replace it"
        )
    if into or (folder and not index_folder):
        path = path / _file_name(name, text)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"cannot create the folder {path.parent}: {exc.strerror}") from exc
    recover(path)
    if path.exists() or path.is_symlink():
        _check_replaceable(str(path), overwrite, _is_local_index(path))
    return str(path)


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # fullmatch: `$` lets "a\n" in


def check_name(name: str) -> str:
    """`name` if it can name the file `<name>.parquet` in any folder (the cache's, an
    export's), else a `BuildError`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith(".parquet"):
        raise BuildError(
            f"collection name {name!r} must be 1-128 letters, digits, '.', '_' or '-' "
            f"(starting with a letter or digit, not ending in .parquet)"
        )
    return name


def _file_name(name: str, destination: str) -> str:
    try:
        return f"{check_name(name)}.parquet"
    except CogdexError:
        raise ExportError(
            f"collection name {name!r} cannot name a file in {destination}: give the index's "
            f"own path (e.g. {destination.rstrip('/' + os.sep)}/index.parquet)"
        ) from None


def _check_replaceable(where: str, overwrite: bool, is_index: bool) -> None:
    if not is_index:
        raise ExportError(
            f"{where} exists and is not a cogdex index: export never replaces it (choose "
            f"another path, or a folder to write into)"
        )
    if not overwrite:
        raise ExportError(f"{where} holds a cogdex index: pass overwrite=True to replace it")


def _is_local_index(path: Path) -> bool:
    """A file with cogdex metadata, or a partitioned index: a folder holding only yearly
    files of one collection (a folder of several exports is a folder, never an index)."""
    if path.is_file():
        return _index_name(str(path)) is not None
    if not path.is_dir():
        return False
    entries = list(path.iterdir())
    if not entries or not all(p.is_file() and _YEAR_FILE.fullmatch(p.name) for p in entries):
        return False
    names = {_index_name(str(p)) for p in entries}
    return len(names) == 1 and None not in names


def _index_name(source: Any) -> str | None:
    """The collection name in a Parquet file's cogdex metadata; None for any other file."""
    try:
        schema = pq.read_schema(source)
    except (pa.ArrowException, OSError):
        return None
    raw = (schema.metadata or {}).get(S.METADATA_KEY)
    if raw is None:
        return None
    try:
        return str(json.loads(raw).get("name", ""))
    except (ValueError, AttributeError):
        return None


def _remote_target(url: str, name: str, overwrite: bool, options: Mapping[str, Any] | None) -> str:
    """`export_target` for object stores: `url/` is a prefix to write into; an object or a
    partitioned index already at the key is replaced only when it is a cogdex index."""
    from cogdex.io import runtime
    from cogdex.io.stores import stores

    into = url.endswith("/")
    if into:
        url += _file_name(name, url)
    store, key, _ = stores().resolve(url, options)
    obs = runtime.obstore()

    def named(k: str) -> str | None:
        return _index_name(pa.BufferReader(bytes(obs.get(store, k).bytes())))

    try:
        if into:
            folder = key.rsplit("/", 1)[0]
            years = [k for k in _remote_all_keys(store, folder) if _is_year_key(k, folder)]
            if years and all(named(k) is not None for k in years):
                raise ExportError(
                    f"{safe_url(url.rsplit('/', 1)[0])} is a partitioned cogdex index, not a "
                    f"prefix to write into: export to it with overwrite=True to replace it"
                )
        found = ([key] if _remote_exists(store, key) else []) + _remote_all_keys(store, key)
        parts = [k for k in found if k != key]
        is_index = (key not in found or named(key) is not None) and all(
            _is_year_key(k, key) and named(k) is not None for k in parts
        )
    except ExportError:
        raise
    except Exception as exc:
        raise StoreError(f"cannot check {url}: {str(exc).splitlines()[0]}") from exc
    if found:
        _check_replaceable(url, overwrite, is_index)
    return url


def _is_year_key(k: str, prefix: str) -> bool:
    """Whether object `k` is a yearly file directly under `prefix/`."""
    head, _, name = k.rpartition("/")
    return head == prefix.rstrip("/") and _YEAR_FILE.fullmatch(name) is not None


def _remote_exists(store: Any, key: str) -> bool:
    from cogdex.io import runtime
    from cogdex.io.fetch import is_not_found

    try:
        runtime.obstore().head(store, key)
    except Exception as exc:
        if is_not_found(exc):
            return False
        raise
    return True


def _parts(order: np.ndarray, years: np.ndarray, distinct: np.ndarray) -> Parts:
    # rows are sorted by year first, so each year is one contiguous run of `order`
    starts = np.searchsorted(years, distinct, side="left")
    ends = np.searchsorted(years, distinct, side="right")
    return [(int(y), order[s:e]) for y, s, e in zip(distinct, starts, ends, strict=True)]


def _replace(tmp: Path, path: Path) -> None:
    """Move `tmp` to `path`. A file onto a file is one atomic rename; a folder cannot take or
    give its place that way, so the old one is set aside first, and a kill between the two
    renames leaves it there for `recover`."""
    if tmp.is_file() and not path.is_dir():
        os.replace(tmp, path)
        return
    old = None
    if path.exists():
        old = _set_aside(path)
        os.replace(path, old)
    try:
        os.replace(tmp, path)
    except BaseException:
        recover(path)
        raise
    if old is not None:
        _discard(old)


def delete(path: Path) -> None:
    """Delete the index at `path`, and every copy of it a killed swap set aside (else
    `recover` would bring one back)."""
    for _, old in _siblings(path, _OLD):
        _discard(old)
    _discard(path)


def _discard(path: Path) -> None:
    """Remove `path` under a temporary name: removing a folder takes many steps, and one
    killed midway must leave nothing that `recover` restores or that loads as a smaller
    index (stale temporaries are cleaned by the next write)."""
    tmp = _temporary(path)
    os.replace(path, tmp)
    remove(tmp)


def remove(path: Path) -> None:
    if path.is_dir():
        import shutil  # here: loading an index never removes one (~2 ms of a cold import)

        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink(missing_ok=True)


def _write_remote(
    table: pa.Table,
    meta: S.IndexMetadata,
    url: str,
    parts: Parts,
    options: Mapping[str, Any] | None,
) -> str:
    """Object stores make each PUT atomic: a partitioned index is one object per year under
    `url/`, written before the old objects beyond them are deleted."""
    from cogdex.io.stores import stores

    store, key, _ = stores().resolve(url, options)
    try:
        _put_remote(table, meta, store, key, parts)
    except Exception as exc:
        raise IndexWriteError(str(exc).splitlines()[0], path=url) from exc
    return url


def _put_remote(table: pa.Table, meta: S.IndexMetadata, store: Any, key: str, parts: Parts) -> None:
    from cogdex.io import runtime

    obs = runtime.obstore()
    written = set()
    for year, rows in parts:
        sink = pa.BufferOutputStream()
        _write_file(table, meta, sink, rows)
        object_key = key if year is None else f"{key.rstrip('/')}/{year}.parquet"
        obs.put(store, object_key, sink.getvalue().to_pybytes())
        written.add(object_key)
    # yearly files no longer part of the index (all of them after a single-object write,
    # which `_download` would otherwise still find under `key/`)
    for old in _remote_keys(store, key):
        if old not in written and _is_year_key(old, key):
            obs.delete(store, old)


def _remote_keys(store: Any, key: str) -> list[str]:
    return [k for k in _remote_all_keys(store, key) if k.endswith(".parquet")]


def _remote_all_keys(store: Any, key: str) -> list[str]:
    from cogdex.io import runtime

    prefix = key.rstrip("/") + "/"
    found = []
    for batch in runtime.obstore().list(store, prefix):
        found += [m["path"] for m in batch]
    return sorted(found)


# -- reading ---------------------------------------------------------------------------------


def _holds_float(type_: pa.DataType) -> bool:
    """Whether a column of `type_` is, or has in its struct fields, a floating-point one."""
    if pa.types.is_struct(type_):
        return any(_holds_float(type_.field(i).type) for i in range(type_.num_fields))
    return pa.types.is_floating(type_)


@dataclass(frozen=True)
class IndexFiles:
    """An index on disk: its Parquet files (read lazily), metadata and schema.

    `stamps` pins each file's (size, mtime_ns, inode) as opened: rows are located by position, so
    reading a file rebuilt since (same path, other scenes) must fail, never mix records.
    """

    location: str
    files: tuple[str, ...]
    meta: S.IndexMetadata
    schema: pa.Schema
    stamps: tuple[tuple[int, int, int], ...]
    opened: dict[int, pq.ParquetFile] = dataclasses.field(
        default_factory=dict, compare=False, repr=False
    )
    """The file `open_index` opened (the first), until its first `parquet` call takes it: a
    cold `load(...).subset(...)` parses each footer once (~12 ms for a year of a
    500,000-scene index) and builds each file's reader once."""

    def count(self) -> int:
        return sum(handle.metadata.num_rows for handle in self._opened())

    def parquet(self, number: int) -> pq.ParquetFile:
        """File `number`, opened and checked against its stamp (after opening: a file
        replaced later still reads as opened)."""
        handle = self.opened.pop(number, None)
        if handle is None:
            try:
                handle = _open_file(self.files[number])
            except (pa.ArrowException, OSError) as exc:
                self._check(number)  # a file gone or replaced is stale, not damaged
                raise self._damaged(number, "its footer", exc) from exc
        self._check(number)
        return handle

    def _opened(self) -> Iterator[pq.ParquetFile]:
        """Every file in order, opened (`parquet`) on threads a few files ahead of the
        caller: Arrow parses a footer without the GIL (a year of a large index has a 1.7 MB
        footer: ~11 ms), and a parsed footer is large (~18 MB), so only those few are held.
        A file's error is raised when the caller reaches it, as if opened there."""
        count = len(self.files)
        window = min(count, os.cpu_count() or 1, OPEN_AHEAD)
        results: dict[int, pq.ParquetFile | Exception] = {}
        threads: dict[int, threading.Thread] = {}

        def open_file(number: int) -> None:
            try:
                results[number] = self.parquet(number)
            except Exception as exc:  # raised below, in the caller's thread
                results[number] = exc

        def start(number: int) -> None:
            if number < count:
                threads[number] = threading.Thread(target=open_file, args=(number,))
                threads[number].start()

        for number in range(window):
            start(number)
        for number in range(count):
            threads.pop(number).join()
            start(number + window)
            result = results.pop(number)
            if isinstance(result, Exception):
                raise result
            yield result

    def _check(self, number: int) -> None:
        """Raise `StaleIndexError` unless file `number` is the one stamped at load."""
        path = self.files[number]
        try:
            stamp = _stamp(path)
        except OSError as exc:
            raise StaleIndexError(
                f"{path} of index {self.location} is gone ({exc.strerror or exc}): load the "
                f"index again"
            ) from exc
        if stamp != self.stamps[number]:
            raise StaleIndexError(
                f"{path} changed since index {self.location} was loaded (rebuilt or replaced): "
                f"load it again to read the new records"
            )

    def _damaged(self, number: int, part: str, exc: Exception) -> IndexSchemaError:
        return IndexSchemaError(
            f"{self.files[number]} of index {self.location} is damaged: {part} cannot be read "
            f"({str(exc).splitlines()[0]}); build or export the index again"
        )

    def _row_group(
        self, handle: pq.ParquetFile, number: int, group: int, columns: list[str] | None
    ) -> pa.Table:
        try:
            return handle.read_row_group(group, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise self._damaged(number, f"row group {group}", exc) from exc

    def read(self, conditions: Sequence[Q.Condition] = (), *, light: bool = False) -> pa.Table:
        """The rows meeting `conditions`: row groups pruned by statistics, rows filtered.

        `light` leaves out `assets` (the headers, nearly all the bytes) and adds the row's
        location (`__file`, `__group`, `__row`), from which `read_assets` reads them later.
        """
        names = [n for n in self.schema.names if not (light and n == "assets")]
        tested = Q.columns(conditions) if conditions else None
        first = names if tested is None else [n for n in names if n in tested]
        expressions = [c.expression for c in conditions if isinstance(c, Q.Where)]
        Q.prepare(conditions)  # the row filter's import loads while the footers are parsed
        parts = []
        for number, pf in enumerate(self._opened()):
            groups = Q.row_groups(pf.metadata, conditions)
            if expressions and len(groups) > 1:
                kept = set(self._matching_groups(number, groups, expressions))
                kept |= self._nan_groups(pf, number, [g for g in groups if g not in kept])
                groups = [g for g in groups if g in kept]
            for group in groups:
                table = self._group_rows(pf, number, group, conditions, first, names)
                if not table.num_rows:
                    continue
                if light:
                    n = table.num_rows
                    for name, value in zip(LOCATION[:2], (number, group), strict=True):
                        table = table.append_column(
                            name, A.from_numpy(np.full(n, value), pa.int64())
                        )
                    parts.append(table.select([*names, *LOCATION]))
                else:
                    parts.append(table.drop_columns([LOCATION[2]]))
        if not parts:
            empty = A.empty_table(self.schema)
            if light:
                empty = empty.drop_columns(["assets"])
                for name in LOCATION:
                    empty = empty.append_column(name, pa.nulls(0, pa.int64()))
            return empty
        return pa.concat_tables(parts).replace_schema_metadata(None)

    def _group_rows(
        self,
        handle: pq.ParquetFile,
        number: int,
        group: int,
        conditions: Sequence[Q.Condition],
        first: list[str],
        names: list[str],
    ) -> pa.Table:
        """The rows of a row group meeting `conditions`, columns `names` and `__row` (each
        row's place in the group). The columns the conditions test (`first`) are read
        first, the others only where rows match, and then only those rows: a row group
        whose statistics overlap a filter often holds no match. (`Q.later` conditions are
        tested last, on whole rows.)"""
        table = self._row_group(handle, number, group, first)
        at = A.from_numpy(np.arange(table.num_rows), pa.int64())
        now, later = Q.later(conditions)
        table = Q.apply(table.append_column(LOCATION[2], at), now)
        others = [n for n in names if n not in first]
        if not others or not table.num_rows:
            return Q.apply(table, later)
        rows = A.to_numpy(table.column(LOCATION[2]))
        rest = A.take(self._row_group(handle, number, group, others), rows)
        for field, column in zip(rest.schema, rest.columns, strict=True):
            table = table.append_column(field, column)
        return Q.apply(table, later).select([*names, LOCATION[2]])

    def _matching_groups(
        self, number: int, groups: list[int], expressions: Sequence[Any]
    ) -> list[int]:
        """Those of `groups` of file `number` whose statistics may meet every expression
        (`pyarrow.dataset`, which reads nested fields' statistics such as `bbox.xmin`;
        imported only here, as it costs a second of a cold process).

        The statistics were parsed with the footer, so an Arrow error here is the
        expression's (a tz-naive timestamp against the UTC `datetime`): nothing is pruned
        and the row filter raises Arrow's own error, as a loaded collection's `where` does."""
        import pyarrow.dataset as ds
        from pyarrow.fs import LocalFileSystem

        path = self.files[number]
        fragment = ds.ParquetFileFormat().make_fragment(
            path, filesystem=LocalFileSystem(), row_groups=groups
        )
        combined = expressions[0]
        for expression in expressions[1:]:
            combined = combined & expression
        try:
            kept = fragment.split_by_row_group(combined, schema=self.schema)
        except pa.ArrowException:
            return groups
        except OSError as exc:
            self._check(number)
            raise self._damaged(number, "its row group statistics", exc) from exc
        return [piece.row_groups[0].id for piece in kept]

    def _nan_groups(self, handle: pq.ParquetFile, number: int, groups: list[int]) -> set[int]:
        """Those of `groups` where a floating-point column holds NaN. Parquet leaves NaN out
        of a column's min/max and pyarrow prunes as if they bounded the values, so a group
        whose NaN meets `!=`, `is_nan` or a negated comparison would be skipped: such
        groups are read whatever their statistics say. Only the float columns are read."""
        import pyarrow.compute as pc  # only here: a cold read of a whole index never needs it

        columns = [f.name for f in self.schema if f.name != "assets" and _holds_float(f.type)]
        found = set()
        for group in groups if columns else ():
            try:
                table = handle.read_row_group(group, columns=columns)
            except (pa.ArrowException, OSError) as exc:
                raise self._damaged(number, f"row group {group}", exc) from exc
            while any(pa.types.is_struct(t) for t in table.schema.types):
                table = table.flatten()
            floats = (c for c in table.columns if pa.types.is_floating(c.type))
            if any(pc.any(pc.is_nan(c)).as_py() for c in floats):
                found.add(group)
        return found

    def read_assets(self, where: pa.Table, keys: Sequence[str] | None = None) -> pa.ChunkedArray:
        """The `assets` (only `keys`, if given) of the rows located by `where`'s location
        columns, in its order: each row group holding some of them is read once."""
        files = A.to_numpy(where.column("__file"))
        groups = A.to_numpy(where.column("__group"))
        rows = A.to_numpy(where.column("__row"))
        columns = ["assets"] if keys is None else [f"assets.{k}" for k in keys]
        order = np.lexsort((rows, groups, files))
        pieces = []
        handles: dict[int, pq.ParquetFile] = {}
        start = 0
        while start < len(order):
            f, g = files[order[start]], groups[order[start]]
            end = start
            while end < len(order) and files[order[end]] == f and groups[order[end]] == g:
                end += 1
            if int(f) not in handles:
                handles[int(f)] = self.parquet(int(f))
            column = self._row_group(handles[int(f)], int(f), int(g), columns).column("assets")
            pieces.append(A.take(column, rows[order[start:end]]))
            start = end
        if not pieces:
            return S.complete_assets(pa.chunked_array([], self.schema.field("assets").type))
        if _consecutive(order):  # rows in file order (a filter's): the row groups as read
            return S.complete_assets(pa.chunked_array(pieces))
        combined = pa.concat_arrays(pieces)
        back = np.empty(len(order), np.int64)
        back[order] = np.arange(len(order))
        return S.complete_assets(pa.chunked_array([A.take(combined, back)]))


LOCATION = ("__file", "__group", "__row")


def open_index(
    location: str | os.PathLike[str],
    *,
    store_options: Mapping[str, Any] | None = None,
    download_dir: Path | None = None,
) -> IndexFiles:
    """Open a local file or folder (or download an object-store URL into `download_dir`)
    and check its schema version and columns; nothing but footers is read."""
    where = os.fspath(location)
    parsed = parse_url(where)
    if parsed.kind == "local":
        path = Path(parsed.key)
        recover(path)
        if path.is_dir():
            files = sorted(str(p) for p in path.glob("*.parquet") if not p.name.startswith("."))
            if not files:
                raise IndexSchemaError(f"{where} is a folder with no .parquet files")
        elif path.is_file():
            files = [str(path)]
        else:
            raise IndexSchemaError(f"no index at {where}")
    else:
        if download_dir is None:
            raise StoreError(f"reading {where} needs a download folder")
        files = _download(where, store_options, download_dir)
    try:
        stamps = tuple(_stamp(f) for f in files)
    except OSError as exc:
        raise IndexSchemaError(f"{exc.filename} of index {where}: {exc.strerror}") from exc
    try:
        handle = _open_file(files[0])
        first = handle.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise IndexSchemaError(f"{files[0]} is not a Parquet file ({exc})") from exc
    raw = (first.metadata or {}).get(S.METADATA_KEY)
    if raw is None:
        raise IndexSchemaError(
            f"{where} has no 'cogdex' metadata: not a cogdex index (to index a table of "
            f"TIFF URLs use cogdex.build_from_table)"
        )
    meta = S.IndexMetadata.from_json(raw, where)
    S.validate(first, meta.bands, where)
    return IndexFiles(where, tuple(files), meta, first, stamps, {0: handle})


def _open_file(path: str) -> pq.ParquetFile:
    """A reader of one index file (its footer parsed); pages are checked against their CRCs."""
    return pq.ParquetFile(path, page_checksum_verification=True)


def _stamp(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _download(url: str, options: Mapping[str, Any] | None, folder: Path) -> list[str]:
    """Copy the index at `url` (an object, else the yearly objects under `url/`) into a
    folder of `folder` named by the objects' versions: an unchanged index is not fetched
    again, and a collection loaded earlier keeps reading the copy it pinned."""
    from cogdex.io import runtime
    from cogdex.io.stores import stores

    store, key, _ = stores().resolve(url, options)
    obs = runtime.obstore()
    heads = {}
    if key.endswith(".parquet") or _from_store(url, _remote_exists, store, key):
        heads[key] = _from_store(url, obs.head, store, key)
    else:
        for k in _from_store(url, _remote_keys, store, key):
            if _is_year_key(k, key):
                heads[k] = _from_store(url, obs.head, store, k)
    if not heads:
        raise IndexSchemaError(f"no index at {url}")
    versions = [
        (k, h.get("e_tag"), h.get("size"), str(h.get("last_modified"))) for k, h in heads.items()
    ]
    digest = hashlib.sha256(repr((url, versions)).encode()).hexdigest()[:16]
    target = folder / hashlib.sha256(url.encode()).hexdigest()[:16] / digest
    files = []
    for k, h in heads.items():
        local = target / Path(k).name
        if not (local.is_file() and local.stat().st_size == h.get("size")):
            data = _get_as_listed(url, store, k, h)
            try:
                _save(local, data)
            except OSError as exc:
                raise IndexWriteError(_reason(exc), path=str(local)) from exc
        files.append(str(local))
    _prune_downloads(target)
    return files


def _get_as_listed(url: str, store: Any, key: str, head: Mapping[str, Any]) -> bytes:
    """The object's bytes, if its GET answers with the version its HEAD gave, which names
    the folder they are saved in: an index rewritten between the two is an error, so a
    folder never holds another version's bytes (nor an index of many files a mix)."""
    from cogdex.io import fetch, runtime

    result = _from_store(url, runtime.obstore().get, store, key)
    found, listed = fetch.ObjectVersion.of(result.meta), fetch.ObjectVersion.of(head)
    if not fetch.same_version(found, listed):
        raise ObjectChangedError(
            f"the index changed while it was downloaded ({found.etag or found.size}, not "
            f"{listed.etag or listed.size}): load it again",
            url=url,
        )
    return _from_store(url, lambda: bytes(result.bytes()))


KEEP_DOWNLOADS = 2
"""Versions of one remote index kept on disk: the one just loaded and the one before it,
which a collection loaded earlier (here or in another process) may still be reading."""
_DIGEST = re.compile(r"[0-9a-f]{16}")


def _prune_downloads(current: Path) -> None:
    """Delete the oldest downloaded versions of an index beyond `KEEP_DOWNLOADS`, so a
    remote index that changes daily does not fill the cache. Only version folders cogdex
    wrote (a digest name holding only .parquet files) are touched; a collection still
    pinned to a deleted copy raises `StaleIndexError` instead of reading another."""
    with contextlib.suppress(OSError):  # another process pruning the same folder
        others = [
            p
            for p in current.parent.iterdir()
            if p != current
            and p.is_dir()
            and _DIGEST.fullmatch(p.name)
            and all(f.is_file() and f.suffix == ".parquet" for f in p.iterdir())
        ]
        others.sort(key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in others[KEEP_DOWNLOADS - 1 :]:
            for f in old.iterdir():
                remove(f)
            old.rmdir()


def _from_store[T](url: str, call: Callable[..., T], *args: Any) -> T:
    """`call(*args)`, a store's failure raised as a typed error naming `url`."""
    from cogdex.io.fetch import is_not_found

    try:
        return call(*args)
    except Exception as exc:
        if is_not_found(exc):
            raise IndexSchemaError(f"no index at {url}") from exc
        raise StoreError(f"cannot read {url}: {str(exc).splitlines()[0]}") from exc


def _save(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary, as `write` writes an index."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _tidy(path)
    tmp = _temporary(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        remove(tmp)
        raise


__all__ = [
    "KEEP_DOWNLOADS",
    "LOCATION",
    "PARTITION_ROWS",
    "ROW_GROUP_ROWS",
    "IndexFiles",
    "check_name",
    "delete",
    "export_target",
    "geo_metadata",
    "open_index",
    "order_of",
    "recover",
    "recover_folder",
    "spatial_order",
    "write",
]
