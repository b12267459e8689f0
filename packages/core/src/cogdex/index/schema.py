"""The index's Arrow layout, its version, and exact header <-> Arrow conversion.

One row per scene. Core columns: `id`, `datetime` (UTC), `collection`, `cloud_cover`,
`geometry` (WKB, CRS84), `bbox` (the GeoParquet covering), `epsg`/`crs` (scene CRS),
`georef_conflict` (where STAC and the file disagree), then the scene's STAC properties as
flat typed columns, then `assets`: a struct with one field per asset key, each
`{href, header, raster}` (`raster`: the item's nodata/scale/offset per band). Parquet
stores every leaf as its own column, so reading two bands reads only their bytes, and tile
offsets are flat `list<uint64>` leaves that the reader slices as numpy without Python
objects. The `cogdex` key of the file metadata holds the band
map, the source, the store options and `schema_version`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from cogdex.errors import IndexSchemaError
from cogdex.index import arrays as A
from cogdex.tiff.model import HEADER_VERSION, Georeference, Level, TIFFHeader

SCHEMA_VERSION = 2
"""Bumped when a reader of the previous version would misread a file of this one.

2: assets gained `raster` (STAC nodata/scale/offset per band); version 1 files load with
it null. Headers gained `etag` and `last_modified` (the object's version when its header
was read) without a bump: a reader without them reads such a file right, checking the size
only, and files without them load with them null (the same size-only check)."""

METADATA_KEY = b"cogdex"
GEO_KEY = b"geo"

TIMESTAMP = pa.timestamp("us", tz="UTC")
BBOX_TYPE = pa.struct([(name, pa.float64()) for name in ("xmin", "ymin", "xmax", "ymax")])
_U16, _U32, _U64 = pa.uint16(), pa.uint32(), pa.uint64()

# Arrow type of every `Level` field, in the model's order (checked by `check_model`).
_LEVEL_TYPES: dict[str, pa.DataType] = {
    "width": _U32,
    "height": _U32,
    "tile_width": _U32,
    "tile_height": _U32,
    "tiled": pa.bool_(),
    "tile_offsets": pa.list_(_U64),
    "tile_byte_counts": pa.list_(_U64),
    "compression": _U16,
    "predictor": _U16,
    "bits_per_sample": _U16,
    "sample_format": _U16,
    "samples_per_pixel": _U16,
    "planar": _U16,
    "photometric": _U16,
    "dtype": pa.string(),
    "subfile_type": _U32,
    "jpeg_tables": pa.binary(),
    "ycbcr_subsampling": pa.list_(_U16),
    "extra_samples": pa.list_(_U16),
    "lerc_parameters": pa.list_(_U32),
    "fill_order": _U16,
    "ifd_offset": _U64,
}
MASK_TYPE = pa.struct(list(_LEVEL_TYPES.items()))
LEVEL_TYPE = pa.struct([*MASK_TYPE, pa.field("mask", MASK_TYPE)])

_STR_MAP = pa.map_(pa.string(), pa.string())
HEADER_TYPE = pa.struct(
    [
        pa.field("size", _U64),
        pa.field("byte_order", pa.string()),
        pa.field("bigtiff", pa.bool_()),
        pa.field("levels", pa.list_(LEVEL_TYPE)),
        pa.field("crs_code", pa.int32()),
        pa.field("crs_text", pa.string()),
        pa.field("transform", pa.list_(pa.float64(), 6)),
        pa.field("pixel_is_point", pa.bool_()),
        pa.field("gcps", pa.list_(pa.list_(pa.float64(), 5))),
        pa.field("nodata", pa.float64()),
        pa.field("descriptions", pa.list_(pa.string())),
        pa.field("scales", pa.list_(pa.float64())),
        pa.field("offsets", pa.list_(pa.float64())),
        pa.field("units", pa.list_(pa.string())),
        pa.field("metadata", _STR_MAP),
        pa.field("band_metadata", pa.list_(_STR_MAP)),
        pa.field("etag", pa.string()),
        pa.field("last_modified", TIMESTAMP),
    ]
)
RASTER_TYPE = pa.list_(pa.struct([(name, pa.float64()) for name in ("nodata", "scale", "offset")]))
"""What the STAC item declares per band of an asset (`raster:bands`, or STAC 1.1 `bands`
with `nodata`/`raster:scale`/`raster:offset`), one entry per sample; null when nothing."""
ASSET_TYPE = pa.struct(
    [pa.field("href", pa.string()), ("header", HEADER_TYPE), ("raster", RASTER_TYPE)]
)
_ADDED_ASSET_FIELDS = ("raster",)
"""Asset fields a version 1 index lacks: validation accepts their absence, `conform` adds
them as nulls."""
_ADDED_HEADER_FIELDS = ("etag", "last_modified")
"""Header fields an index written before cogdex kept the object's version lacks: they load
as nulls, and its reads check the object's size only."""

CORE_COLUMNS: dict[str, pa.DataType] = {
    "id": pa.string(),
    "datetime": TIMESTAMP,
    "collection": pa.string(),
    "cloud_cover": pa.float64(),
    "geometry": pa.binary(),
    "bbox": BBOX_TYPE,
    "epsg": pa.int32(),
    "crs": pa.string(),
    "georef_conflict": pa.string(),
}
REQUIRED_COLUMNS = ("id", "datetime", "geometry", "bbox", "epsg", "crs", "assets")
RESERVED = frozenset(CORE_COLUMNS) | {"assets"}


def assets_type(keys: Sequence[str]) -> pa.StructType:
    return pa.struct([pa.field(k, ASSET_TYPE) for k in keys])


def check_model() -> None:
    """Fail loudly when the TIFF model gained or lost a field this schema does not map."""
    level = [f.name for f in dataclasses.fields(Level) if f.name != "mask"]
    header = {f.name for f in dataclasses.fields(TIFFHeader)} - {"levels", "georef"}
    georef = {f.name for f in dataclasses.fields(Georeference)}
    mapped = set(HEADER_TYPE.names)
    missing = (
        [n for n in level if n not in _LEVEL_TYPES]
        + sorted(header - mapped)
        + sorted(georef - {"crs", "transform", "pixel_is_point", "gcps"})
    )
    extra = sorted(set(_LEVEL_TYPES) - set(level))
    if missing or extra:
        raise IndexSchemaError(
            f"the TIFF header model and the index schema disagree (header version "
            f"{HEADER_VERSION}): unmapped fields {missing}, mapped fields gone {extra}"
        )


# -- header -> Arrow -------------------------------------------------------------------------


def _list_of_arrays(arrays: Sequence[np.ndarray]) -> pa.ListArray:
    offsets = np.zeros(len(arrays) + 1, np.int32)
    np.cumsum([len(a) for a in arrays], out=offsets[1:])
    values = np.concatenate(arrays) if arrays else np.zeros(0, np.uint64)
    return pa.ListArray.from_arrays(A.from_numpy(offsets), A.from_numpy(values, _U64))


def _expand(array: pa.Array, present: Sequence[bool]) -> pa.Array:
    """`array` (one value per True of `present`) spread out with nulls where False."""
    if all(present):
        return array
    if not any(present):  # e.g. no level has a mask: no take (and no compute import)
        return pa.nulls(len(present), array.type)
    index = np.cumsum(present) - 1
    return array.take(A.from_numpy(index, pa.int64(), mask=~np.asarray(present, bool)))


def _levels_array(levels: Sequence[Level], *, with_mask: bool) -> pa.StructArray:
    columns = []
    for name, typ in _LEVEL_TYPES.items():
        if name in ("tile_offsets", "tile_byte_counts"):
            columns.append(_list_of_arrays([getattr(lv, name) for lv in levels]))
        else:
            columns.append(A.from_pylist([getattr(lv, name) for lv in levels], typ))
    fields = list(MASK_TYPE)
    if with_mask:
        present = [lv.mask is not None for lv in levels]
        masks = [lv.mask for lv in levels if lv.mask is not None]
        columns.append(_expand(_levels_array(masks, with_mask=False), present))
        fields = list(LEVEL_TYPE)
    return pa.StructArray.from_arrays(columns, fields=fields)


def headers_to_arrow(headers: Sequence[TIFFHeader | None]) -> pa.StructArray:
    """Headers -> one `HEADER_TYPE` array (null where a header is None), built column-wise:
    tile offsets go in as concatenated numpy arrays, never as Python lists."""
    present = [h is not None for h in headers]
    hs: list[TIFFHeader] = [h for h in headers if h is not None]
    flat = [lv for h in hs for lv in h.levels]
    level_offsets = np.zeros(len(hs) + 1, np.int32)
    np.cumsum([len(h.levels) for h in hs], out=level_offsets[1:])
    levels = pa.ListArray.from_arrays(
        A.from_numpy(level_offsets), _levels_array(flat, with_mask=True)
    )
    crs = [h.georef.crs for h in hs]
    values: dict[str, Any] = {
        "size": [h.size for h in hs],
        "byte_order": [h.byte_order for h in hs],
        "bigtiff": [h.bigtiff for h in hs],
        "crs_code": [c if isinstance(c, int) else None for c in crs],
        "crs_text": [c if isinstance(c, str) else None for c in crs],
        "transform": [h.georef.transform for h in hs],
        "pixel_is_point": [h.georef.pixel_is_point for h in hs],
        "gcps": [list(h.georef.gcps) for h in hs],
        "nodata": [h.nodata for h in hs],
        "descriptions": [list(h.descriptions) for h in hs],
        "scales": [list(h.scales) for h in hs],
        "offsets": [list(h.offsets) for h in hs],
        "units": [list(h.units) for h in hs],
        "metadata": [list(h.metadata.items()) for h in hs],
        "band_metadata": [[list(m.items()) for m in h.band_metadata] for h in hs],
        "etag": [h.etag for h in hs],
        "last_modified": [h.last_modified for h in hs],
    }
    columns = [
        levels if f.name == "levels" else A.from_pylist(values[f.name], f.type) for f in HEADER_TYPE
    ]
    array = pa.StructArray.from_arrays(columns, fields=list(HEADER_TYPE))
    return _expand(array, present)


# -- Arrow -> header -------------------------------------------------------------------------


def _column_values(struct: pa.StructArray, name: str) -> list[Any]:
    column = struct.field(name)
    if name == "last_modified":
        return A.to_datetimes(column)
    return column.to_pylist()


def _levels_from_arrow(struct: pa.StructArray, *, with_mask: bool) -> list[Level | None]:
    n = len(struct)
    kw: dict[str, list[Any]] = {}
    for name in _LEVEL_TYPES:
        if name in ("tile_offsets", "tile_byte_counts"):
            lists = struct.field(name)
            offsets = A.to_numpy(lists.offsets)
            flat = A.to_numpy(lists.values)
            kw[name] = [flat[offsets[i] : offsets[i + 1]] for i in range(n)]
        else:
            kw[name] = _column_values(struct, name)
    for name in ("ycbcr_subsampling", "extra_samples", "lerc_parameters"):
        kw[name] = [tuple(v or ()) for v in kw[name]]
    masks: list[Level | None] = [None] * n
    mask = struct.field("mask") if with_mask else None
    if mask is not None and mask.null_count < len(mask):  # most files have no mask at all
        masks = _levels_from_arrow(mask, with_mask=False)
    valid = A.valid(struct)
    out: list[Level | None] = []
    for i in range(n):
        if not valid[i]:
            out.append(None)
            continue
        args = {name: kw[name][i] for name in _LEVEL_TYPES}
        out.append(Level(**args, mask=masks[i]))
    return out


def headers_from_arrow(array: pa.Array | pa.ChunkedArray) -> list[TIFFHeader | None]:
    """A `HEADER_TYPE` array -> header objects equal to those it was made from."""
    if isinstance(array, pa.ChunkedArray):
        return [h for chunk in array.chunks for h in headers_from_arrow(chunk)]
    struct: pa.StructArray = array
    levels_list = struct.field("levels")
    level_offsets = A.to_numpy(levels_list.offsets)
    first, last = int(level_offsets[0]), int(level_offsets[-1])
    flat = _levels_from_arrow(levels_list.values.slice(first, last - first), with_mask=True)
    cols = {name: _column_values(struct, name) for name in HEADER_TYPE.names if name != "levels"}
    valid = A.valid(struct)
    out: list[TIFFHeader | None] = []
    for i in range(len(struct)):
        if not valid[i]:
            out.append(None)
            continue
        levels = flat[level_offsets[i] - first : level_offsets[i + 1] - first]
        crs = cols["crs_code"][i] if cols["crs_code"][i] is not None else cols["crs_text"][i]
        transform = cols["transform"][i]
        out.append(
            TIFFHeader(
                size=cols["size"][i],
                byte_order=cols["byte_order"][i],
                bigtiff=cols["bigtiff"][i],
                levels=tuple(lv for lv in levels if lv is not None),
                georef=Georeference(
                    crs=crs,
                    transform=None if transform is None else tuple(transform),
                    pixel_is_point=cols["pixel_is_point"][i],
                    gcps=tuple(tuple(p) for p in cols["gcps"][i] or ()),
                ),
                nodata=cols["nodata"][i],
                descriptions=tuple(cols["descriptions"][i] or ()),
                scales=tuple(cols["scales"][i] or ()),
                offsets=tuple(cols["offsets"][i] or ()),
                units=tuple(cols["units"][i] or ()),
                metadata=dict(cols["metadata"][i] or ()),
                band_metadata=tuple(dict(m) for m in cols["band_metadata"][i] or ()),
                etag=cols["etag"][i],
                last_modified=cols["last_modified"][i],
            )
        )
    return out


# -- file metadata ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BandRef:
    """Where a band lives: the asset (file) and the 0-based sample in it."""

    asset: str
    band_index: int = 0


@dataclasses.dataclass(frozen=True)
class IndexMetadata:
    """What the `cogdex` key of the Parquet metadata holds (JSON).

    `source` says where the items came from (STAC API URL + collection + search, a table
    URL, or a dataset ID) so a rebuild or `extend` can ask again; `store_options` are the
    non-secret options the reader passes to stores; `skipped` lists assets whose header could
    not be read, with the reason; `cache_key` is set for collections in the cache. Their URLs
    are kept `safe_url` (no userinfo, no query string), also when read from an index written
    before that rule, so a credential never travels on into a repr, the CLI or an export.
    `schema_version` is the version the index was read as; what `to_json` writes is always
    this cogdex's, since every table it writes went through `conform`.
    """

    name: str
    bands: Mapping[str, BandRef]
    source: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    store_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    skipped: tuple[Mapping[str, str], ...] = ()
    cache_key: str | None = None
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        from cogdex.redact import redact_urls, safe_url

        source = {k: safe_url(v) if isinstance(v, str) else v for k, v in self.source.items()}
        skipped = tuple(
            {k: redact_urls(v) if isinstance(v, str) else v for k, v in s.items()}
            for s in self.skipped
        )
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "skipped", skipped)
        if self.store_options:  # (io.stores loads the runtime: only when there is any)
            from cogdex.io.stores import public_options

            object.__setattr__(self, "store_options", public_options(self.store_options))

    def to_json(self) -> bytes:
        from cogdex._version import __version__

        doc = {
            "schema_version": SCHEMA_VERSION,
            "header_version": HEADER_VERSION,
            "cogdex_version": __version__,
            "name": self.name,
            "bands": {k: dataclasses.asdict(v) for k, v in self.bands.items()},
            "source": dict(self.source),
            "store_options": dict(self.store_options),
            "skipped": [dict(s) for s in self.skipped],
            "cache_key": self.cache_key,
        }
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: str) -> IndexMetadata:
        try:
            doc = json.loads(raw)
            version = int(doc["schema_version"])
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexSchemaError(f"{where}: unreadable 'cogdex' metadata ({exc})") from exc
        if version > SCHEMA_VERSION:
            raise IndexSchemaError(
                f"{where} is a cogdex index of schema version {version}, written by cogdex "
                f"{doc.get('cogdex_version', '?')}; this cogdex reads versions up to "
                f"{SCHEMA_VERSION}: upgrade cogdex"
            )
        header_version = doc.get("header_version", HEADER_VERSION)
        if header_version != HEADER_VERSION:
            raise IndexSchemaError(
                f"{where} stores TIFF headers of version {header_version}; this cogdex "
                f"reads version {HEADER_VERSION}: rebuild the collection"
            )
        try:
            bands = {k: BandRef(v["asset"], int(v["band_index"])) for k, v in doc["bands"].items()}
        except (KeyError, TypeError, AttributeError) as exc:
            raise IndexSchemaError(f"{where}: malformed band map in 'cogdex' metadata") from exc
        return cls(
            name=str(doc.get("name", "")),
            bands=bands,
            source=doc.get("source") or {},
            store_options=doc.get("store_options") or {},
            skipped=tuple(doc.get("skipped") or ()),
            cache_key=doc.get("cache_key"),
            schema_version=version,
        )


# -- validation ------------------------------------------------------------------------------


def _type_problems(actual: pa.DataType, expected: pa.DataType, path: str) -> list[str]:
    """Differences between two types, as 'path: expected X, found Y' lines (nullability of
    nested fields is ignored: tables reshaped elsewhere often lose it)."""
    if actual == expected:  # the usual case, one comparison in Arrow (a header has ~30 leaves)
        return []
    if pa.types.is_struct(expected) and pa.types.is_struct(actual):
        out = []
        for f in expected:
            idx = actual.get_field_index(f.name)
            if idx < 0:
                out.append(f"{path}.{f.name}: missing")
            else:
                out += _type_problems(actual.field(idx).type, f.type, f"{path}.{f.name}")
        return out
    if pa.types.is_list(expected) and (pa.types.is_list(actual) or pa.types.is_large_list(actual)):
        return _type_problems(actual.value_type, expected.value_type, f"{path}[]")
    if pa.types.is_fixed_size_list(expected) and pa.types.is_fixed_size_list(actual):
        if actual.list_size != expected.list_size:
            return [f"{path}: expected {expected}, found {actual}"]
        return _type_problems(actual.value_type, expected.value_type, f"{path}[]")
    if pa.types.is_map(expected) and pa.types.is_map(actual):
        return []
    if actual != expected and not _compatible(actual, expected):
        return [f"{path}: expected {expected}, found {actual}"]
    return []


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Types that cast losslessly for the reader (DuckDB/Polars re-encode strings/binary)."""
    pairs = (
        (pa.types.is_string, (pa.types.is_large_string, pa.types.is_string_view)),
        (pa.types.is_binary, (pa.types.is_large_binary, pa.types.is_binary_view)),
    )
    for want, accepted in pairs:
        if want(expected) and any(ok(actual) for ok in accepted):
            return True
    if pa.types.is_timestamp(expected) and pa.types.is_timestamp(actual):
        return actual.tz is not None and actual.tz.upper() in ("UTC", "+00:00", "ETC/UTC")
    return False


def validate(schema: pa.Schema, bands: Mapping[str, BandRef], where: str) -> None:
    """Raise `IndexSchemaError` naming every missing column and wrong type in `schema`."""
    problems = [f"column {c!r} is missing" for c in REQUIRED_COLUMNS if c not in schema.names]
    for name, typ in CORE_COLUMNS.items():
        if name in schema.names:
            problems += _type_problems(schema.field(name).type, typ, name)
    if "assets" in schema.names:
        assets = schema.field("assets").type
        if not pa.types.is_struct(assets):
            problems.append(f"assets: expected a struct of assets, found {assets}")
        else:
            for key in sorted({ref.asset for ref in bands.values()}):
                idx = assets.get_field_index(key)
                if idx < 0:
                    used = sorted(b for b, r in bands.items() if r.asset == key)
                    problems.append(f"assets.{key} (bands {', '.join(used)}) is missing")
                else:
                    found = assets.field(idx).type
                    problems += _type_problems(found, _expected_asset(found), f"assets.{key}")
    if problems:
        raise IndexSchemaError(f"{where} is not a cogdex index: " + "; ".join(problems))


def _lacks(struct: pa.DataType, added: Sequence[str]) -> bool:
    return pa.types.is_struct(struct) and any(struct.get_field_index(n) < 0 for n in added)


def _lacks_added(asset: pa.DataType) -> bool:
    if not pa.types.is_struct(asset):
        return False
    header = asset.get_field_index("header")
    return _lacks(asset, _ADDED_ASSET_FIELDS) or (
        header >= 0 and _lacks(asset.field(header).type, _ADDED_HEADER_FIELDS)
    )


def _expected_asset(found: pa.DataType) -> pa.StructType:
    """ASSET_TYPE less the fields added since version 1 that `found` lacks."""
    if not _lacks_added(found):
        return ASSET_TYPE
    fields = []
    for f in _present(ASSET_TYPE, found, _ADDED_ASSET_FIELDS):
        if f.name == "header" and found.get_field_index("header") >= 0:
            f = pa.field("header", _present(HEADER_TYPE, found.field("header").type,
                                            _ADDED_HEADER_FIELDS))  # fmt: skip
        fields.append(f)
    return pa.struct(fields)


def _present(full: pa.StructType, found: pa.DataType, added: Sequence[str]) -> pa.StructType:
    """`full` less those of its `added` fields that `found` lacks."""
    return pa.struct([f for f in full if f.name not in added or found.get_field_index(f.name) >= 0])


def _with_nulls(array: pa.StructArray, full: pa.StructType) -> pa.StructArray:
    """`array` as a struct of type `full`: the fields it lacks as nulls."""
    n, has = len(array), array.type.get_field_index
    parts = [array.field(g.name) if has(g.name) >= 0 else pa.nulls(n, g.type) for g in full]
    if full is ASSET_TYPE and _lacks(array.type.field("header").type, _ADDED_HEADER_FIELDS):
        parts[ASSET_TYPE.get_field_index("header")] = _with_nulls(
            array.field("header"), HEADER_TYPE
        )
    fields = [pa.field(g.name, p.type) for g, p in zip(full, parts, strict=True)]
    return A.struct(parts, fields, A.valid(array))


def _complete(assets: pa.StructArray) -> pa.StructArray:
    children = []
    for i in range(assets.type.num_fields):
        child = assets.field(i)
        if _lacks_added(child.type):
            child = _with_nulls(child, ASSET_TYPE)
        children.append(child)
    fields = [pa.field(f.name, c.type) for f, c in zip(assets.type, children, strict=True)]
    return A.struct(children, fields, A.valid(assets))


def complete_assets(assets: pa.ChunkedArray) -> pa.ChunkedArray:
    """`assets` read from an older index with the fields added since as nulls (the reader
    then sees one layout); unchanged when nothing is missing."""
    if not any(_lacks_added(f.type) for f in assets.type):
        return assets
    if not assets.num_chunks:
        return pa.chunked_array([], assets_type(assets.type.names))
    return pa.chunked_array([_complete(c) for c in assets.chunks])


def conform(table: pa.Table) -> pa.Table:
    """Cast compatible columns (large strings, string views, non-nullable fields) to the
    exact schema types, so every later step sees one layout."""
    columns, fields = [], []
    for f, col in zip(table.schema, table.columns, strict=True):
        want: pa.DataType | None = CORE_COLUMNS.get(f.name)
        if f.name == "assets":
            want = assets_type(f.type.names)
            col = complete_assets(col)
            f = pa.field(f.name, col.type, f.nullable, f.metadata)  # its completed layout
        if want is not None and col.type != want:
            col = col.cast(want)
            f = pa.field(f.name, want)
        columns.append(col)
        fields.append(f)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, table.schema.metadata))


__all__ = [
    "ASSET_TYPE",
    "BBOX_TYPE",
    "CORE_COLUMNS",
    "GEO_KEY",
    "HEADER_TYPE",
    "LEVEL_TYPE",
    "MASK_TYPE",
    "METADATA_KEY",
    "RASTER_TYPE",
    "REQUIRED_COLUMNS",
    "RESERVED",
    "SCHEMA_VERSION",
    "TIMESTAMP",
    "BandRef",
    "IndexMetadata",
    "assets_type",
    "check_model",
    "complete_assets",
    "conform",
    "headers_from_arrow",
    "headers_to_arrow",
    "validate",
]
