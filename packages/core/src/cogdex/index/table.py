"""Parquet tables that list TIFF URLs -> STAC-like items for the build.

Two shapes are understood: stac-geoparquet exports (an `assets` struct of `{href, ...}` per
asset key, properties as columns) and flat indexes with one URL column per file (Source
Cooperative style). The id, datetime, geometry and CRS columns are inferred from common
names unless given; what cannot be inferred is named in the error, with the argument that
sets it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from cogdex.errors import BuildError

ROLE_CANDIDATES = {
    "id": ("id", "item_id", "scene_id", "tile_id", "name", "key"),
    "datetime": ("datetime", "start_datetime", "date", "time", "acquired", "timestamp", "year"),
    "geometry": ("geometry", "geom", "wkb_geometry", "footprint"),
    "crs": ("proj:code", "proj:epsg", "crs", "epsg", "proj:wkt2", "proj:projjson"),
    "href": ("href", "url", "path", "location", "uri", "s3_path", "file"),
}


def read_table(
    location: str | os.PathLike[str], store_options: Mapping[str, Any] | None
) -> pa.Table:
    """A local or object-store Parquet file (or folder of them) as one table."""
    from cogdex.io import runtime
    from cogdex.io.fetch import is_not_found
    from cogdex.io.stores import stores
    from cogdex.io.urls import parse_url

    parsed = parse_url(location)
    try:
        if parsed.kind == "local":
            path = Path(parsed.key)
            if not path.exists():
                raise BuildError(f"no table at {location}")
            return pq.read_table(path)
        store, key, _ = stores().resolve(parsed, store_options)
        data = bytes(runtime.obstore().get(store, key).bytes())
        return pq.read_table(pa.BufferReader(data))
    except BuildError:
        raise
    except Exception as exc:
        if is_not_found(exc):  # a FileNotFoundError from the store: before OSError
            raise BuildError(f"no table at {location}") from exc
        if isinstance(exc, pa.ArrowInvalid | OSError):
            raise BuildError(f"{location} is not a readable Parquet table ({exc})") from exc
        raise BuildError(f"cannot read {location}: {str(exc).splitlines()[0]}") from exc


def arrow_table(table: Any) -> pa.Table:
    """An in-memory table as a `pyarrow.Table`: a `pyarrow.Table` as it is, else anything
    that exports the Arrow PyCapsule stream interface (`__arrow_c_stream__`: pandas, polars,
    DuckDB, `GeoDataFrame.to_arrow()`), read through pyarrow's `RecordBatchReader`, so core
    needs none of those libraries."""
    if isinstance(table, pa.Table):
        return table
    if not hasattr(table, "__arrow_c_stream__"):
        raise BuildError(
            "build_from_table takes a Parquet file, folder or URL, or an in-memory table: a "
            "pyarrow.Table or an object with the Arrow stream interface (__arrow_c_stream__: "
            f"pandas, polars, DuckDB, GeoDataFrame.to_arrow()), not a {type(table).__name__}"
        )
    try:
        return pa.RecordBatchReader.from_stream(table).read_all()
    except (pa.ArrowException, TypeError, ValueError) as exc:
        hint = (
            f"; {type(table).__name__}.to_arrow() may export it"
            if hasattr(table, "to_arrow")
            else ""
        )
        raise BuildError(
            f"the {type(table).__name__} cannot be read as an Arrow table ({exc}){hint}"
        ) from exc


def table_digest(table: pa.Table) -> str:
    """A hash of an in-memory table's schema and values (its Arrow IPC stream), fed to the
    hash batch by batch rather than serialized whole: the cache key of a table build."""
    import hashlib

    class Sink:  # the file-like object pyarrow writes the stream to
        closed = False

        def __init__(self) -> None:
            self.hash = hashlib.blake2b(digest_size=16)

        def write(self, data: bytes) -> int:
            self.hash.update(data)
            return len(data)

        def flush(self) -> None:
            pass

        def close(self) -> None:
            self.closed = True

    sink = Sink()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.hash.hexdigest()


def _pick(
    table: pa.Table, role: str, given: Mapping[str, str], argument: str, required: bool
) -> str | None:
    if role in given:
        name = given[role]
        if name not in table.column_names:
            raise BuildError(
                f"the {role} column {name!r} is not in the table; columns: "
                f"{', '.join(table.column_names)}"
            )
        return name
    for candidate in ROLE_CANDIDATES[role]:
        if candidate in table.column_names:
            return candidate
    if required:
        raise BuildError(
            f"cannot infer the {role} column (none of {', '.join(ROLE_CANDIDATES[role])}); "
            f"pass {argument}; columns: {', '.join(table.column_names)}"
        )
    return None


def _datetime(value: Any, column: str) -> str:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time.min, dt.UTC).isoformat()
    if isinstance(value, int) and 1000 <= value <= 9999:
        return dt.datetime(value, 1, 1, tzinfo=dt.UTC).isoformat()
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise BuildError(f"datetime column {column!r} holds {value!r}, which is not a date")


def _crs_property(column: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return {"proj:epsg": int(value)}
    if isinstance(value, str):
        text = value.strip()
        if column == "proj:projjson" or text.startswith("{"):
            return {"proj:projjson": json.loads(text)}
        if ":" in text and len(text) < 64:
            return {"proj:code": text}
        return {"proj:wkt2": text}
    if isinstance(value, dict):
        return {"proj:projjson": value}
    return {}


def items_from_table(
    table: pa.Table,
    *,
    href_columns: Sequence[str] | Mapping[str, str] | None = None,
    columns: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Rows -> items with `id`, `properties` (datetime, CRS keys, scalar columns), geometry
    (WKB bytes, if the table has it) and assets (`href_columns`: asset key -> column, or a
    list of columns each its own asset; else the `assets` struct, else one inferred URL
    column as asset `data`)."""
    given = dict(columns or {})
    id_col = _pick(table, "id", given, "columns={'id': ...}", required=True)
    dt_col = _pick(table, "datetime", given, "columns={'datetime': ...}", required=True)
    geom_col = _pick(table, "geometry", given, "columns={'geometry': ...}", required=False)
    crs_col = _pick(table, "crs", given, "columns={'crs': ...}", required=False)
    stac_assets = "assets" in table.column_names and pa.types.is_struct(
        table.schema.field("assets").type
    )
    asset_columns: dict[str, str]
    if href_columns is not None:
        asset_columns = (
            dict(href_columns)
            if isinstance(href_columns, Mapping)
            else {c: c for c in href_columns}
        )
        missing = [c for c in asset_columns.values() if c not in table.column_names]
        if missing:
            raise BuildError(f"href column(s) {missing} not in the table")
    elif stac_assets:
        asset_columns = {}
    else:
        href = _pick(table, "href", given, "href_columns=[...]", required=True)
        assert href is not None
        asset_columns = {"data": href}
    for column in asset_columns.values():
        kind = table.schema.field(column).type
        if pa.types.is_nested(kind):
            raise BuildError(
                f"href column {column!r} holds {kind} values, not one href per row: for "
                "several files per row give one column each (href_columns={asset: column})"
            )
    used = {id_col, dt_col, geom_col, crs_col, "assets", "bbox", *asset_columns.values()}
    scalar = [
        f.name
        for f in table.schema
        if f.name not in used and not pa.types.is_nested(f.type) and f.name != "type"
    ]
    rows = table.to_pylist()
    items = []
    for row in rows:
        props = {k: _plain(row[k]) for k in scalar}
        props.pop("stac_version", None)
        if row[dt_col] is None and props.get("start_datetime"):
            props["datetime"] = None  # a range item (stac-geoparquet): its start stands in
        else:
            props["datetime"] = _datetime(row[dt_col], str(dt_col))
        if crs_col is not None:
            props.update(_crs_property(crs_col, row[crs_col]))
        if stac_assets:
            assets = {
                k: {key: v for key, v in (a or {}).items() if v is not None}
                for k, a in (row["assets"] or {}).items()
                if a
            }
        else:
            assets = {
                key: {"href": row[col], "type": "image/tiff; application=geotiff"}
                for key, col in asset_columns.items()
                if row[col]
            }
        item: dict[str, Any] = {
            "type": "Feature",
            "id": None if row[id_col] is None else str(row[id_col]),
            "properties": props,
            "assets": assets,
            "geometry": row[geom_col] if geom_col else None,
        }
        if row.get("collection"):
            item["collection"] = row["collection"]
        items.append(item)
    return items


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


__all__ = [
    "items_from_table",
    "read_table",
]
