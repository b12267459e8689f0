"""STAC-like items -> index rows: band map, unsigned hrefs, every header fetched at once.

The header fetch is a build's whole cost, so all of them go out concurrently through the TIFF
engine (one request per typical COG) under the fetch layer's process-wide limit. The band
map is checked against the first item before that (and, for large builds, against the first
item's headers, so a wrong `band_index` fails after one item, not after thousands). A header
that cannot be read is recorded per asset with its reason; `strict=True` makes it fatal.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import importlib
import json
import math
import re
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from textwrap import shorten
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pyarrow as pa

from cogdex.errors import BuildError, CogdexError, CRSError, TruncatedTIFF
from cogdex.index import arrays as A
from cogdex.index import schema as S
from cogdex.index.stac import iso_datetime, item_datetime, item_digest
from cogdex.redact import has_userinfo, redact_urls, safe_url
from cogdex.tiff.model import TIFFHeader

BandsArg = Sequence[str] | Mapping[str, str | tuple[str, int]] | None

FIRST_ITEM_CHECK = 16
"""Builds with more items than this fetch the first item's headers alone first."""

_TIFF_TYPES = ("image/tiff", "image/geotiff", "image/vnd.stac.geotiff", "geotiff")
_NOT_DATA = {"thumbnail", "overview", "metadata", "visual-preview"}
_SIGNATURE_KEYS = {
    "sig",
    "sv",
    "se",
    "sp",
    "st",
    "sr",
    "skoid",
    "sktid",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "signature",
    "token",
    "expires",
    "key-pair-id",
    "policy",
}
_PROPERTY_SKIP = {"datetime", "eo:cloud_cover"}
_RASTER = ("nodata", "scale", "offset")
_RASTER_V2 = ("nodata", "raster:scale", "raster:offset")
_TIME_PROPERTIES = {"start_datetime", "end_datetime", "created", "updated", "published"}


@dataclass(frozen=True)
class Built:
    """A build's rows and what it found out on the way."""

    table: pa.Table
    bands: dict[str, S.BandRef]
    skipped: list[dict[str, str]]


class BuildExecutor(Protocol):
    """Where a build's header fetches run when it is given a `client=`: a plugin's answer to
    the `cogdex_build_executor` hook (cogdex-dask runs them on a Dask cluster)."""

    def run_parts(
        self,
        plan: Plan,
        store_options: Mapping[str, Any] | None,
        progress: Callable[[int], None] | None,
    ) -> list[PartRows]:
        """`part_rows` of parts of `plan` (`Plan.parts`) covering its items, in item order;
        `progress` (where given) is called with the number of files each part read."""
        ...


# -- assets and bands ------------------------------------------------------------------------


def is_tiff_asset(asset: Mapping[str, Any]) -> bool:
    media = str(asset.get("type") or "").lower()
    roles = set(asset.get("roles") or ())
    if roles and roles <= _NOT_DATA:
        return False
    if media:
        return any(t in media for t in _TIFF_TYPES)
    path = urlsplit(str(asset.get("href", ""))).path.lower()
    return path.endswith((".tif", ".tiff"))


def asset_band_names(asset: Mapping[str, Any]) -> list[tuple[str | None, str | None]]:
    """(name, common_name) of each band an asset declares (STAC 1.1 `bands`, `eo:bands`,
    or `raster:bands`), in sample order."""
    for key in ("bands", "eo:bands", "raster:bands"):
        declared = asset.get(key)
        if isinstance(declared, list) and declared:
            out = []
            for b in declared:
                b = b if isinstance(b, dict) else {}
                out.append((b.get("name"), b.get("eo:common_name") or b.get("common_name")))
            return out
    return []


def resolve_bands(
    item: Mapping[str, Any],
    bands: BandsArg,
    band_index: Mapping[str, int] | None = None,
) -> dict[str, S.BandRef]:
    """The band map for `bands` against `item`'s assets (raises `BuildError` listing what
    the item offers). Names match asset keys first, then declared band names and common
    names, preferring single-band files; `"asset:i"` names sample i of an asset."""
    assets: Mapping[str, Any] = item.get("assets") or {}
    band_index = dict(band_index or {})
    where = f"item {item.get('id')!r}"
    if bands is None:
        out: dict[str, S.BandRef] = {}
        for key, asset in assets.items():
            if not is_tiff_asset(asset):
                continue
            declared = asset_band_names(asset)
            if len(declared) > 1:
                out.update({f"{key}:{i}": S.BandRef(key, i) for i in range(len(declared))})
            else:
                out[key] = S.BandRef(key, 0)
        if not out:
            raise BuildError(f"{where} has no GeoTIFF assets (assets: {sorted(assets)})")
        return out
    if isinstance(bands, Mapping):
        out = {}
        for name, target in bands.items():
            if isinstance(target, str):
                key, index = target, band_index.get(name, 0)
            else:
                key, index = target[0], int(target[1])
            if key not in assets:
                raise BuildError(
                    f"band {name!r} maps to asset {key!r}, which {where} does not have; "
                    f"its assets: {', '.join(sorted(assets))}"
                )
            out[name] = S.BandRef(key, index)
        return out
    if isinstance(bands, str):
        bands = [bands]
    out = {}
    for name in bands:
        out[name] = _find_band(name, assets, band_index, where)
    return out


def items_band_map(
    items: Sequence[Mapping[str, Any]],
    bands: BandsArg,
    band_index: Mapping[str, int] | None = None,
) -> dict[str, S.BandRef]:
    """The band map of a build: with `bands=None`, every GeoTIFF asset of any item (in the
    order items first show them); else `bands` as the first item that has them all
    resolves them. The first item alone would drop the assets it lacks from every record,
    or refuse bands that every other item has. Items are told apart by their asset keys,
    so a search of one product resolves once. Raises the first item's `BuildError` when
    no item resolves."""
    first_error: BuildError | None = None
    out: dict[str, S.BandRef] = {}
    tried: set[tuple[str, ...]] = set()
    for item in items:
        keys = tuple(item.get("assets") or ())
        if keys in tried:
            continue
        tried.add(keys)
        try:
            found = resolve_bands(item, bands, band_index)
        except BuildError as exc:
            first_error = first_error or exc
            continue
        if bands is not None:
            return found
        for name, ref in found.items():
            out.setdefault(name, ref)
    if out:
        return out
    assert first_error is not None  # items is never empty here
    raise first_error


def _find_band(
    name: str, assets: Mapping[str, Any], band_index: Mapping[str, int], where: str
) -> S.BandRef:
    if name in assets:
        return S.BandRef(name, band_index.get(name, 0))
    key, sep, index = name.rpartition(":")
    if sep and key in assets and index.isdigit():
        return S.BandRef(key, int(index))
    candidates: list[tuple[int, str, int]] = []
    for key, asset in assets.items():
        declared = asset_band_names(asset)
        for i, (band_name, common) in enumerate(declared):
            if name in (band_name, common):
                candidates.append((len(declared), key, i))
    if candidates:
        _, key, i = min(candidates)
        return S.BandRef(key, i)
    offered = sorted(
        {k for k, a in assets.items() if is_tiff_asset(a)}
        | {n for a in assets.values() for pair in asset_band_names(a) for n in pair if n}
    )
    raise BuildError(f"band {name!r} is not in {where}; it offers: {', '.join(offered)}")


def _number(value: Any) -> float | None:
    """A STAC number: JSON numbers, and STAC 1.1's "nan", "inf" and "-inf" nodata strings."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def stac_raster(asset: Mapping[str, Any], samples: int = 1) -> list[dict[str, float | None]] | None:
    """{nodata, scale, offset} per band of an asset, from the raster extension's
    `raster:bands` (v1) or STAC 1.1 `bands` with `nodata`/`raster:scale`/`raster:offset`
    (which STAC 1.1 may also put on the asset itself, for all its bands: the `samples` of
    its file where it lists none); None when the item says nothing."""
    bands, fields = asset.get("raster:bands"), _RASTER
    if not isinstance(bands, list) or not bands:
        bands, fields = asset.get("bands"), _RASTER_V2
    if not isinstance(bands, list) or not bands:
        bands = [{}] * max(1, samples)
    common = [_number(asset.get(f)) for f in _RASTER_V2]
    out = []
    for band in bands:
        band = band if isinstance(band, dict) else {}
        values = [
            c if band.get(f) is None else _number(band[f])
            for f, c in zip(fields, common, strict=True)
        ]
        out.append(dict(zip(_RASTER, values, strict=True)))
    return out if any(v is not None for b in out for v in b.values()) else None


# -- hrefs -----------------------------------------------------------------------------------


def clean_href(href: str, rewrites: Mapping[str, str] | None = None) -> str:
    """The href to store: prefix rewrites applied, and never a credential. A signed URL (SAS
    token, presigned S3/GCS URL) loses its query string, since a cloud plugin signs at read
    time; any other query string is refused, since cogdex would drop it when reading. So is
    a `user:password@` href: stores do not send it, so without it the read would be the
    same anonymous one, which the build must not pass off as the href's. So is a relative
    path (static STAC files and APIs resolve theirs before this): each reading process
    would resolve it against its own working directory, another file or none."""
    for old, new in (rewrites or {}).items():
        if href.startswith(old):
            href = new + href[len(old) :]
            break
    if "://" not in href and not Path(href).is_absolute():
        raise BuildError(
            f"asset href {href!r} is a relative path with nothing to resolve it against "
            "(an item without a 'self' link, a table row): give absolute paths or URLs, or "
            "map the prefix with href_rewrites"
        )
    if has_userinfo(href):
        raise BuildError(
            f"asset href has a user name or password, which cogdex never stores: "
            f"{safe_url(href)}; pass credentials in store_options instead (for HTTP: "
            "client_options={'default_headers': {'Authorization': ...}})"
        )
    query = urlsplit(href).query if "://" in href else ""  # a path's '?' is its name's
    keys = {k.lower() for k, _ in parse_qsl(query, keep_blank_values=True)}
    if query and not keys & _SIGNATURE_KEYS:
        raise BuildError(f"asset href has a query string cogdex cannot keep: {safe_url(href)}")
    return safe_url(href)  # the signature and any fragment (never sent) dropped


# -- CRS ------------------------------------------------------------------------------------

_EPSG_CODE = re.compile(r"^\s*EPSG:(\d+)\s*$", re.IGNORECASE)


def stac_crs(*sources: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """(epsg, crs) from the projection keys of the first source that has any (an asset's
    own keys before the item's): `proj:code`, `proj:epsg`, `proj:wkt2`, `proj:projjson`."""
    for src in sources:
        code = src.get("proj:code")
        if isinstance(code, str) and code:
            match = _EPSG_CODE.match(code)
            if match:
                return int(match.group(1)), f"EPSG:{int(match.group(1))}"
            return None, code
        epsg = src.get("proj:epsg")
        if isinstance(epsg, int) and not isinstance(epsg, bool):
            return epsg, f"EPSG:{epsg}"
        wkt = src.get("proj:wkt2")
        if isinstance(wkt, str) and wkt.strip():
            return None, wkt
        projjson = src.get("proj:projjson")
        if isinstance(projjson, dict) and projjson:
            return None, json.dumps(projjson, sort_keys=True)
    return None, None


def header_crs(header: TIFFHeader) -> tuple[int | None, str | None]:
    """(epsg, crs) of a file: a user-defined CRS keeps its own definition in `crs`, and
    `epsg` is the code GDAL identifies for it, so that scenes sharing a CRS share a code
    (reads keep using the definition: see `index.band.read_epsg`)."""
    from cogdex.tiff.geokeys import epsg_code

    crs = header.georef.crs
    if isinstance(crs, int):
        return crs, f"EPSG:{crs}"
    return epsg_code(crs), crs


def same_crs(a: tuple[int | None, str | None], b: tuple[int | None, str | None]) -> bool:
    """Whether two (epsg, crs) pairs name one CRS; where either is unknown or unparseable,
    nothing says they differ. A file's own definition is compared as a definition: the code
    PROJ identifies for it may leave out what the file says (a TOWGS84 datum shift)."""
    if a[0] is not None and b[0] is not None and a[0] != b[0]:
        return False
    if a[1] is None or b[1] is None or a[1] == b[1]:
        return True
    if _is_code(a[1]) and _is_code(b[1]):
        return a[0] == b[0]
    return _equivalent(a[1], b[1])


def _is_code(crs: str) -> bool:
    return _EPSG_CODE.match(crs) is not None


def _equivalent(a: str, b: str) -> bool:
    """PROJ's equality (`cogdex.crs.same_crs`, cached); a CRS PROJ cannot read says nothing."""
    from cogdex.crs import same_crs as proj_same_crs

    try:
        return proj_same_crs(a, b)
    except CRSError:
        return True


def _crs_label(crs: tuple[int | None, str | None]) -> str:
    return f"EPSG:{crs[0]}" if crs[0] is not None else shorten(str(crs[1]), 60)


def _crs_conflicts(
    item: Mapping[str, Any], keys: Sequence[str], headers: Sequence[TIFFHeader | None]
) -> list[str]:
    """'asset: CRS (STAC) vs CRS (GeoKeys)' for each asset whose file is georeferenced in
    another CRS than the item's (or asset's) projection keys say."""
    props = item.get("properties") or {}
    assets = item.get("assets") or {}
    out = []
    for key, header in zip(keys, headers, strict=True):
        if header is None:
            continue
        stated, found = stac_crs(assets.get(key) or {}, props), header_crs(header)
        if not same_crs(stated, found):
            out.append(f"{key!r}: {_crs_label(stated)} (STAC) vs {_crs_label(found)} (GeoKeys)")
    return out


# -- footprints ------------------------------------------------------------------------------


_EDGE = np.linspace(0, 1, 11)
_EDGE_COLS = np.concatenate([_EDGE, np.ones(11), 1 - _EDGE, np.zeros(11)])
_EDGE_ROWS = np.concatenate([np.zeros(11), _EDGE, np.ones(11), 1 - _EDGE])
"""A file's outline, 11 points an edge, as fractions of its width and height."""


def header_footprint(header: TIFFHeader, crs: str) -> Any:
    """The lon/lat polygon of a file's extent (edges densified), for items without one.

    A file across the antimeridian gets the two-part MultiPolygon that GeoJSON (RFC 7946)
    asks for: its ring, taken as it comes, jumps between +180 and -180 and would be a band
    around the rest of the globe, which spatial filters match everywhere but on the file."""
    import shapely

    from cogdex.crs import to_lonlat

    transform = header.georef.transform
    if transform is None:
        raise BuildError("file has no geotransform and the item no geometry")
    a, b, c, d, e, f = transform
    cols, rows = _EDGE_COLS * header.base.width, _EDGE_ROWS * header.base.height
    xs, ys = a * cols + b * rows + c, d * cols + e * rows + f
    return to_lonlat(np.array([shapely.Polygon(np.column_stack([xs, ys]))]), crs)[0]


def misplaced(
    headers: Sequence[TIFFHeader], crss: Sequence[int | str], geometries: Sequence[bytes]
) -> np.ndarray:
    """Which rows' footprints (WKB, lon/lat) do not even touch their file's extent: one of
    the two is wrong, and a read of the footprint would find no pixels. One projection per
    CRS (an EPSG code or a CRS text) for all its rows, through PROJ; files without a
    geotransform are never flagged."""
    import shapely

    from cogdex.crs import transformer

    bounds = shapely.bounds(shapely.from_wkb(list(geometries)))
    out = np.zeros(len(headers), bool)
    by_crs: dict[int | str, list[int]] = {}
    for i, (header, crs) in enumerate(zip(headers, crss, strict=True)):
        if header.georef.transform is not None:
            by_crs.setdefault(crs, []).append(i)
    for crs, rows in by_crs.items():
        try:
            to_lonlat = transformer(crs, 4326)
        except (ValueError, RuntimeError):  # a CRS PROJ cannot read (pyproj's CRSError)
            continue
        t = np.array([headers[i].georef.transform for i in rows], np.float64)
        size = np.array([(headers[i].base.width, headers[i].base.height) for i in rows], float)
        cols, lines = _EDGE_COLS * size[:, :1], _EDGE_ROWS * size[:, 1:]
        xs = t[:, 0:1] * cols + t[:, 1:2] * lines + t[:, 2:3]
        ys = t[:, 3:4] * cols + t[:, 4:5] * lines + t[:, 5:6]
        lon, lat = (np.reshape(v, xs.shape) for v in to_lonlat.transform(xs.ravel(), ys.ravel()))
        known = np.isfinite(lon) & np.isfinite(lat)
        lon, lat = np.where(known, lon, np.inf), np.where(known, lat, np.inf)
        lo_x, lo_y = lon.min(axis=1), lat.min(axis=1)
        lon, lat = np.where(known, lon, -np.inf), np.where(known, lat, -np.inf)
        hi_x, hi_y = lon.max(axis=1), lat.max(axis=1)
        b = bounds[rows]
        apart = (lo_x > b[:, 2]) | (hi_x < b[:, 0]) | (lo_y > b[:, 3]) | (hi_y < b[:, 1])
        out[rows] = apart & known.any(axis=1)
    return out


# -- header fetch ----------------------------------------------------------------------------


def prepare(after: concurrent.futures.Future[None] | None = None) -> None:
    """Load what fetching and checking headers needs: the TIFF parser, obstore with its
    event loop and I/O threads, the plugins (the first store lookup loads them: 7-35 ms),
    shapely and PROJ's database; first wait for `after`, when given.

    `cogdex.builds` runs this on a thread while the source is searched, so a cold build
    pays these ~60-120 ms during the search's round trips instead of after them; `after`
    is the discovery of pystac's extension hooks that the search's landing page waits for
    (`stac_api.extension_hooks`): both hold the GIL, and the search needs it first. A
    failure here is left for the build itself to raise, where it names what it was doing.
    """
    if after is not None:
        concurrent.futures.wait([after])
    try:
        from cogdex import plugins
        from cogdex.crs import transformer
        from cogdex.io import fetch, runtime

        for module in ("cogdex.tiff.header", "shapely"):
            importlib.import_module(module)
        runtime.obstore()
        runtime.event_loop()
        runtime.io_pool(fetch.config().max_concurrency)
        plugins.plugin_manager()
        transformer(4326, 4326)
    except Exception:  # the build raises it where it happens, naming what it was doing
        return


def _reason(exc: BaseException) -> str:
    """What a skipped entry records of a failure (its URLs `safe_url`: it is written out)."""
    if isinstance(exc, CogdexError):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {redact_urls(str(exc).splitlines()[0] if str(exc) else '')}"


def check_extent(header: TIFFHeader, source: str) -> None:
    """Raise `TruncatedTIFF` where a tile ends past the end of the object (`header.size`).

    A COG cut short (an interrupted upload or copy) keeps a whole header, so only a read of
    its last tiles would fail; the TIFF engine still opens such files, for the tiles they
    do hold, but an index of them would promise pixels it cannot deliver."""
    size = np.uint64(header.size)
    masks = (lv.mask for lv in header.levels if lv.mask is not None)
    for level in (*header.levels, *masks):
        offsets, counts = level.tile_offsets, level.tile_byte_counts
        past = (counts > 0) & ((offsets > size) | (counts > size - np.minimum(offsets, size)))
        if past.any():
            tile = int(np.argmax(past))
            raise TruncatedTIFF(
                f"tile {tile} of the {level.width}x{level.height} image ends at byte "
                f"{int(offsets[tile]) + int(counts[tile])}, past the end of the "
                f"{header.size}-byte file",
                source=source,
                offset=int(offsets[tile]),
            )


async def fetch_headers(
    hrefs: Sequence[str],
    options: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[TIFFHeader | BaseException]:
    """Every header at once (the fetch layer bounds what is in flight); a failure is
    returned in place of its header, never raised."""
    from cogdex.io.fetch import gather_or_cancel
    from cogdex.tiff.header import read_header

    async def one(href: str) -> TIFFHeader | BaseException:
        try:
            header = await read_header(href, options=options)
            check_extent(header, href)
            return header
        except (CogdexError, OSError, ValueError) as exc:
            return exc
        finally:
            if progress is not None:
                progress(1)

    # `one` returns the failures a header may meet; anything else (a bug) is raised with
    # the other fetches cancelled, not left running after it
    return await gather_or_cancel([one(h) for h in hrefs])


def _progress_bar(total: int, enabled: bool | None) -> Any:
    """tqdm on a terminal (stderr), nothing otherwise."""
    if enabled is None:
        enabled = sys.stderr.isatty() and total > 1
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="header", desc="cogdex: headers", leave=False)


# -- properties ------------------------------------------------------------------------------


def _property_column(name: str, values: list[Any]) -> pa.Array | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if name in _TIME_PROPERTIES and all(isinstance(v, str) for v in present):
        try:
            parsed = [None if v is None else item_time(v) for v in values]
            return A.from_pylist(parsed, S.TIMESTAMP)
        except ValueError:
            pass
    kinds = {type(v) for v in present}
    if kinds == {bool}:
        return A.from_pylist(values, pa.bool_())
    if kinds == {int}:
        try:
            return A.from_pylist(values, pa.int64())
        except OverflowError:
            return A.from_pylist([None if v is None else str(v) for v in values], pa.string())
    if kinds <= {int, float}:
        return A.from_pylist([None if v is None else float(v) for v in values], pa.float64())
    if kinds == {str}:
        return A.from_pylist(values, pa.string())
    return A.from_pylist(
        [None if v is None else json.dumps(v, sort_keys=True) for v in values], pa.string()
    )


def item_time(text: str) -> dt.datetime:
    moment = iso_datetime(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def property_columns(items: Sequence[Mapping[str, Any]]) -> dict[str, pa.Array]:
    """STAC properties as flat typed columns under their STAC names (non-scalars as JSON)."""
    names: dict[str, None] = {}
    for item in items:
        for key in item.get("properties") or {}:
            names.setdefault(key, None)
    out: dict[str, pa.Array] = {}
    for name in names:
        if name in _PROPERTY_SKIP:
            continue
        column = _property_column(name, [(it.get("properties") or {}).get(name) for it in items])
        if column is not None:
            out[f"properties:{name}" if name in S.RESERVED else name] = column
    return out


# -- the build -------------------------------------------------------------------------------


def build_rows(
    items: Sequence[Mapping[str, Any]],
    *,
    bands: BandsArg = None,
    band_index: Mapping[str, int] | None = None,
    href_rewrites: Mapping[str, str] | None = None,
    store_options: Mapping[str, Any] | None = None,
    collection: str | None = None,
    strict: bool = False,
    progress: bool | None = None,
    executor: BuildExecutor | None = None,
) -> Built:
    """Fetch the headers of `items`' band assets and return the index rows, in the order
    the index file keeps them (year, then Hilbert order of the bbox centres).

    With an `executor` (a plugin's, from a build's `client=`) the headers are fetched and
    the rows made on its workers, part by part; the result is the same as without."""
    plan = plan_rows(
        items,
        bands=bands,
        band_index=band_index,
        href_rewrites=href_rewrites,
        collection=collection,
    )
    bar = _progress_bar(plan.unique, progress)
    try:
        update = bar.update if bar is not None else None
        if executor is None:
            parts = [part_rows(plan.parts(len(plan.items))[0], store_options, update)]
        else:
            parts = executor.run_parts(plan, store_options, update)
    finally:
        if bar is not None:
            bar.close()
    return finish_rows(plan, parts, strict=strict)


@dataclass(frozen=True)
class Plan:
    """A build before any header fetch: its band map, the items kept (the first of each
    id), the stored href of each of their band assets, and what was skipped on the way."""

    band_map: dict[str, S.BandRef]
    keys: tuple[str, ...]
    items: list[Mapping[str, Any]]
    hrefs: list[list[str | None]]
    skipped: list[dict[str, str]]
    collection: str | None = None
    """The collection of items that name none (a STAC API search's)."""
    every_band: bool = False
    """Built with `bands=None`: the band map grows to every sample the files hold
    (`every_sample`), whatever the items declare."""

    @property
    def unique(self) -> int:
        """How many distinct files the build reads."""
        return len({h for row in self.hrefs for h in row if h is not None})

    def parts(self, size: int) -> list[Part]:
        """The items in consecutive parts of at most `size`, ready to ship to a worker."""
        check = len(self.items) > FIRST_ITEM_CHECK
        return [
            Part(
                start=start,
                items=tuple(_shippable(it, self.keys) for it in self.items[start : start + size]),
                hrefs=tuple(tuple(row) for row in self.hrefs[start : start + size]),
                keys=self.keys,
                band_map=self.band_map,
                check_first=check and start == 0,
                collection=self.collection,
            )
            for start in range(0, len(self.items), max(1, size))
        ]


@dataclass(frozen=True)
class Part:
    """Consecutive items of a build for one worker: plain data (picklable, cheap) with no
    secret in it. Hrefs are the stored ones (no signature), and items keep only what rows
    are made of (`_shippable`): no asset hrefs (they may be signed), no links."""

    start: int
    """The position of the first item in `Plan.items`."""
    items: tuple[Mapping[str, Any], ...]
    hrefs: tuple[tuple[str | None, ...], ...]
    keys: tuple[str, ...]
    band_map: Mapping[str, S.BandRef]
    check_first: bool
    """Fetch the first item's headers alone first and check the band map against them, so
    a wrong `band_index` fails after one item (set on the first part of a large build)."""
    collection: str | None = None


@dataclass(frozen=True)
class PartRows:
    """What a part yields: its rows and what it found out on the way."""

    start: int
    """`Part.start` of the part."""
    table: pa.Table
    """The rows in the index's order within the part, without the property columns (their
    types depend on every item of the build: `finish_rows` adds them)."""
    positions: np.ndarray
    """The item (its position in `Part.items`) of each row."""
    skipped: list[dict[str, str]]
    conflicts: list[str]
    """Items whose STAC CRS and GeoKeys disagree."""
    misplaced: list[str]
    """Items whose footprint is nowhere near their file's extent."""
    readable: bool
    """Whether any header of the part could be read."""
    band_error: str | None
    """The band map checked against the part's first readable item: None where it fits."""
    reasons: set[str]
    """Why headers failed (the error of a build where none could be read)."""
    samples: dict[str, int] = field(default_factory=dict)
    """Asset key -> the most samples per pixel of its files in the part's rows."""


OTHER_CRS = "file in another CRS than its record's: dropped"
"""The reason an asset is skipped whose file is in another CRS than its item's record."""

_PROJ = ("proj:code", "proj:epsg", "proj:wkt2", "proj:projjson")
_PART_PROPERTIES = {"datetime", "start_datetime", "eo:cloud_cover", *_PROJ}
"""The properties `part_rows` reads (`stac_crs`, `item_datetime`, the cloud cover); the
property columns are made of all of them, by `finish_rows`."""
_PART_ASSET_KEYS = {"raster:bands", "bands", *_RASTER_V2, *_PROJ}
"""What `part_rows` reads of a band asset (`stac_crs`, `stac_raster`): never its href."""


def _shippable(item: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """What `part_rows` reads of an item, and nothing else (a part's tasks stay small, and
    carry no signed href or link)."""
    props = item.get("properties") or {}
    assets = item.get("assets") or {}
    return {
        "id": item.get("id"),
        "collection": item.get("collection"),
        "geometry": item.get("geometry"),
        "properties": {k: v for k, v in props.items() if k in _PART_PROPERTIES},
        "assets": {
            k: {n: v for n, v in assets[k].items() if n in _PART_ASSET_KEYS}
            for k in keys
            if isinstance(assets.get(k), Mapping)
        },
    }


def plan_rows(
    items: Sequence[Mapping[str, Any]],
    *,
    bands: BandsArg = None,
    band_index: Mapping[str, int] | None = None,
    href_rewrites: Mapping[str, str] | None = None,
    collection: str | None = None,
) -> Plan:
    """Everything a build decides before fetching: the band map (from the first item), the
    items kept and the stored href of each band asset (no I/O)."""
    if not items:
        raise BuildError("the source returned no items: nothing to index")
    band_map = items_band_map(items, bands, band_index)
    keys = list(dict.fromkeys(ref.asset for ref in band_map.values()))
    skipped: list[dict[str, str]] = []

    # Items -> unique ids, and the href of each (item, asset) to fetch. An item repeated
    # (pages of a search that overlap) is indexed once; two items that share an id but say
    # different things (two collections' scenes) cannot both be its record, and keeping
    # either would silently drop the other.
    seen: dict[str, Mapping[str, Any]] = {}
    kept: list[Mapping[str, Any]] = []
    for item in items:
        if item.get("id") is None or item.get("id") == "":
            # no record key: as "None" it would be a record that no id names
            skipped.append({"id": "", "asset": "*", "href": "", "reason": "no id: dropped"})
            continue
        item_id = str(item.get("id"))
        first = seen.get(item_id)
        if first is not None:
            if item_digest(first) != item_digest(item):
                where = sorted({str(first.get("collection")), str(item.get("collection"))})
                raise BuildError(
                    f"two different items have the id {item_id!r} (collections "
                    f"{', '.join(where)}): a collection keys its records by id; build each "
                    "collection separately, or give the items unique ids"
                )
            skipped.append({"id": item_id, "asset": "", "href": "", "reason": "duplicate id"})
            continue
        seen[item_id] = item
        kept.append(item)
    hrefs: list[list[str | None]] = []
    for item in kept:
        row: list[str | None] = []
        for key in keys:
            asset = (item.get("assets") or {}).get(key)
            if asset is None or not asset.get("href"):
                row.append(None)
                skipped.append(
                    {"id": str(item.get("id")), "asset": key, "href": "", "reason": "no such asset"}
                )
                continue
            row.append(clean_href(str(asset["href"]), href_rewrites))
        hrefs.append(row)
    return Plan(band_map, tuple(keys), kept, hrefs, skipped, collection, bands is None)


def part_rows(
    part: Part,
    store_options: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> PartRows:
    """Fetch a part's headers (all at once) and make its rows; a header that cannot be read
    is recorded in `skipped`, never raised. Runs wherever the part is: in the build's
    process, or on a worker."""
    from cogdex.io import runtime

    band_map, keys, kept, hrefs = part.band_map, list(part.keys), part.items, part.hrefs
    unique = list(dict.fromkeys(h for row in hrefs for h in row if h is not None))
    fetched: dict[str, TIFFHeader | BaseException] = {}
    first = [h for h in hrefs[0] if h is not None] if hrefs else []
    if part.check_first and first:
        answers = runtime.run(fetch_headers(first, store_options, progress))
        fetched.update(zip(first, answers, strict=True))
        _check_band_map(band_map, keys, hrefs[0], fetched, str(kept[0].get("id")))
    rest = [h for h in unique if h not in fetched]
    answers = runtime.run(fetch_headers(rest, store_options, progress))
    fetched.update(zip(rest, answers, strict=True))
    readable = [
        any(isinstance(fetched.get(h), TIFFHeader) for h in row if h is not None) for row in hrefs
    ]
    first_ok = readable.index(True) if any(readable) else None
    band_error = None
    if first_ok is not None:
        try:
            _check_band_map(band_map, keys, hrefs[first_ok], fetched, str(kept[first_ok]["id"]))
        except BuildError as exc:
            band_error = str(exc)
    skipped: list[dict[str, str]] = []

    # Rows.
    headers: dict[str, list[TIFFHeader | None]] = {k: [] for k in keys}
    asset_hrefs: dict[str, list[str | None]] = {k: [] for k in keys}
    rasters: dict[str, list[Any]] = {k: [] for k in keys}
    rows: list[Mapping[str, Any]] = []
    positions: list[int] = []
    epsgs: list[int | None] = []
    crss: list[str] = []
    notes: list[str | None] = []
    firsts: list[TIFFHeader] = []
    conflicts: list[str] = []
    geometries: list[bytes] = []
    import shapely

    for position, (item, row) in enumerate(zip(kept, hrefs, strict=True)):
        item_id = str(item.get("id"))
        got: list[TIFFHeader | None] = []
        for key, href in zip(keys, row, strict=True):
            value = fetched.get(href) if href else None
            if isinstance(value, BaseException):
                skipped.append(
                    {"id": item_id, "asset": key, "href": str(href), "reason": _reason(value)}
                )
                value = None
            got.append(value)
        if all(h is None for h in got):
            if all(h is None for h in row):
                continue  # already recorded as missing assets
            skipped.append(
                {"id": item_id, "asset": "*", "href": "", "reason": "no readable asset: dropped"}
            )
            continue
        props = item.get("properties") or {}
        first_asset = (item.get("assets") or {}).get(keys[0]) or {}
        epsg, crs = stac_crs(first_asset, props)
        conflict = _crs_conflicts(item, keys, got)
        header = next(h for h in got if h is not None)
        if crs is None or conflict or isinstance(header.georef.crs, str):
            # the pixels are in the file's CRS, whatever STAC says; a file's own definition
            # is kept even where STAC names its identified code (reads use the definition)
            epsg, crs = header_crs(header)
        conflicts.extend(f"item {item_id!r} asset {c}" for c in conflict)
        if crs is None:
            skipped.append({"id": item_id, "asset": "*", "href": "", "reason": "no CRS: dropped"})
            continue
        for at, (key, href, asset_header) in enumerate(zip(keys, row, got, strict=True)):
            found = None if asset_header is None else header_crs(asset_header)
            if found is not None and not same_crs((epsg, crs), found):
                # a record has one CRS, which reads place every band of it by
                reason = f"{OTHER_CRS} ({_crs_label(found)}, not {_crs_label((epsg, crs))})"
                skipped.append({"id": item_id, "asset": key, "href": str(href), "reason": reason})
                got[at] = None
        geometry = item.get("geometry")
        try:
            shape = (
                _shape(geometry)
                if geometry
                else header_footprint(next(h for h in got if h is not None), crs)
            )
        except (BuildError, ValueError, TypeError, shapely.errors.GEOSException) as exc:
            reason = f"no footprint ({exc}): dropped"
            skipped.append({"id": item_id, "asset": "*", "href": "", "reason": reason})
            continue
        if item_datetime(item) is None:
            reason = "no datetime: dropped"
            skipped.append({"id": item_id, "asset": "*", "href": "", "reason": reason})
            continue
        assets = item.get("assets") or {}
        for key, href, asset_header in zip(keys, row, got, strict=True):
            headers[key].append(asset_header)
            asset_hrefs[key].append(href if asset_header is not None else None)
            rasters[key].append(
                None
                if asset_header is None
                else stac_raster(assets[key], asset_header.base.samples_per_pixel)
            )
        rows.append(item)
        positions.append(position)
        firsts.append(next(h for h in got if h is not None))
        epsgs.append(epsg)
        crss.append(crs)
        notes.append("; ".join(conflict) + "; the file's CRS is indexed" if conflict else None)
        geometries.append(shapely.to_wkb(shape))

    codes = [crs if epsg is None else epsg for epsg, crs in zip(epsgs, crss, strict=True)]
    misplaced_notes: list[str] = []
    for i in np.flatnonzero(misplaced(firsts, codes, geometries)) if rows else ():
        note = "the item's footprint is nowhere near its file's extent; the file's is indexed"
        misplaced_notes.append(f"item {str(rows[i].get('id'))!r}: {note}")
        notes[i] = f"{notes[i]}; {note}" if notes[i] else note
        geometries[i] = shapely.to_wkb(header_footprint(firsts[i], crss[i]))
    table, order = _table(
        rows, keys, headers, asset_hrefs, rasters, epsgs, crss, notes, geometries, part.collection
    )
    reasons = {_reason(v) for v in fetched.values() if isinstance(v, BaseException)}
    return PartRows(
        start=part.start,
        table=table,
        positions=np.asarray(positions, np.int64)[order],
        skipped=skipped,
        conflicts=conflicts,
        misplaced=misplaced_notes,
        readable=first_ok is not None,
        band_error=band_error,
        reasons=reasons if first_ok is None else set(),
        samples={
            k: max((h.base.samples_per_pixel for h in v if h is not None), default=0)
            for k, v in headers.items()
        },
    )


def finish_rows(
    plan: Plan,
    parts: Sequence[PartRows],
    *,
    strict: bool = False,
) -> Built:
    """The build's rows from its parts (in item order): what `build_rows` returns, whether
    the parts were made here or on workers. Raises what a build raises when no header could
    be read, the band map does not fit, or `strict` and something was skipped."""
    skipped = [*plan.skipped, *(s for p in parts for s in p.skipped)]
    first = next((p for p in parts if p.readable), None)
    if first is None:
        reasons = set().union(*(p.reasons for p in parts))
        raise BuildError(
            f"no header of {plan.unique} files could be read; e.g. {sorted(reasons)[:3]}"
        )
    if first.band_error is not None:
        raise BuildError(first.band_error)
    conflicts = [c for p in parts for c in p.conflicts] + [m for p in parts for m in p.misplaced]
    if conflicts:
        listed = "; ".join(conflicts[:5])
        more = f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else ""
        warnings.warn(
            f"the STAC metadata and the files' georeferencing disagree for {len(conflicts)} "
            f"asset(s) or item(s): {listed}{more}; reads use the files' (see the column "
            "georef_conflict)",
            UserWarning,
            stacklevel=3,
        )
    other_crs = [s for s in skipped if s["reason"].startswith(OTHER_CRS)]
    if other_crs:
        warnings.warn(
            f"{len(other_crs)} asset(s) are in another CRS than the rest of their item, which "
            f"an index record cannot hold (e.g. {other_crs[0]['id']}/{other_crs[0]['asset']}: "
            f"{other_crs[0]['reason']}); they are not indexed (see the collection's skipped)",
            UserWarning,
            stacklevel=3,
        )
    if strict and skipped:
        listed = "; ".join(
            f"{s['id']}/{s['asset']}: {s['reason']}" + (f" ({s['href']})" if s["href"] else "")
            for s in skipped[:5]
        )
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        raise BuildError(f"strict build: {len(skipped)} problems: {listed}{more}")
    positions = np.concatenate([p.positions + p.start for p in parts])
    table = parts[0].table if len(parts) == 1 else pa.concat_tables([p.table for p in parts])
    if len(parts) > 1:
        from cogdex.index.store import spatial_order

        order = spatial_order(table)  # stable: rows that tie keep their item order
        table, positions = A.take(table, order), positions[order]
    rows = [plan.items[i] for i in positions]
    columns = {name: table.column(name) for name in table.column_names if name != "assets"}
    for name, column in property_columns(rows).items():
        columns.setdefault(name, column)
    columns["assets"] = table.column("assets")
    band_map = plan.band_map
    if plan.every_band:
        samples = {k: max(p.samples.get(k, 0) for p in parts) for k in plan.keys}
        band_map = every_sample(band_map, samples)
    return Built(pa.table(columns), band_map, skipped)


def every_sample(
    band_map: Mapping[str, S.BandRef], samples: Mapping[str, int]
) -> dict[str, S.BandRef]:
    """`band_map` with a name for every sample of each asset (`samples`: the most its files
    hold). An item that declares no bands (or fewer than its file has) left the others
    without a name, and its one band, named by the asset key, read the first sample only:
    red alone of an RGB file. An asset's bare key becomes `key:0` .. `key:n-1`; declared
    names stay, and undeclared samples get `key:i`."""
    out: dict[str, S.BandRef] = {}
    for name, ref in band_map.items():
        count = samples.get(ref.asset, 0)
        if name == ref.asset and count > 1:
            out.update({f"{ref.asset}:{i}": S.BandRef(ref.asset, i) for i in range(count)})
        else:
            out[name] = ref
    for key, count in samples.items():
        named = {ref.band_index for ref in out.values() if ref.asset == key}
        for i in range(count):
            if i not in named:
                out[f"{key}:{i}"] = S.BandRef(key, i)
    return out


def _check_band_map(
    band_map: Mapping[str, S.BandRef],
    keys: Sequence[str],
    row: Sequence[str | None],
    fetched: Mapping[str, TIFFHeader | BaseException],
    item_id: str,
) -> None:
    by_key = dict(zip(keys, row, strict=True))
    for name, ref in band_map.items():
        href = by_key.get(ref.asset)
        header = fetched.get(href) if href else None
        if isinstance(header, TIFFHeader):
            samples = header.base.samples_per_pixel
            if ref.band_index >= samples:
                raise BuildError(
                    f"band {name!r} is sample {ref.band_index} of asset {ref.asset!r}, but "
                    f"{href} (item {item_id!r}) has {samples} sample{'s' * (samples != 1)}"
                )


def _table(
    items: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    headers: Mapping[str, list[TIFFHeader | None]],
    hrefs: Mapping[str, list[str | None]],
    rasters: Mapping[str, list[Any]],
    epsgs: list[int | None],
    crss: list[str],
    notes: list[str | None],
    geometries: list[bytes],
    collection: str | None,
) -> tuple[pa.Table, np.ndarray]:
    """The rows' fixed columns (no property columns), and the order they were put in."""
    import shapely

    from cogdex.index.store import order_of

    shapes = shapely.from_wkb(geometries)
    bounds = shapely.bounds(shapes) if len(shapes) else np.zeros((0, 4))
    # Rows in the order the file keeps (year, then Hilbert), so no Arrow take is needed later.
    moments = np.array([_naive_utc(item_datetime(it)) for it in items], "datetime64[us]")
    order = order_of(bounds, moments)
    if not np.array_equal(order, np.arange(len(order))):

        def pick(values: Sequence[Any]) -> list[Any]:
            return [values[i] for i in order]

        items, epsgs, crss, notes = pick(items), pick(epsgs), pick(crss), pick(notes)
        geometries = pick(geometries)
        bounds = bounds[order]
        headers = {k: pick(v) for k, v in headers.items()}
        hrefs = {k: pick(v) for k, v in hrefs.items()}
        rasters = {k: pick(v) for k, v in rasters.items()}
    bbox = pa.StructArray.from_arrays(
        [A.from_numpy(bounds[:, i], pa.float64()) for i in range(4)],
        fields=list(S.BBOX_TYPE),
    )
    asset_arrays = []
    for key in keys:
        header_array = S.headers_to_arrow(headers[key])
        href_array = A.from_pylist(hrefs[key], pa.string())
        present = np.array([h is not None for h in headers[key]], bool)
        raster_array = A.from_pylist(rasters[key], S.RASTER_TYPE)
        children = [href_array, header_array, raster_array]
        asset_arrays.append(A.struct(children, list(S.ASSET_TYPE), present))
    assets = pa.StructArray.from_arrays(asset_arrays, fields=list(S.assets_type(keys)))
    cloud = [(it.get("properties") or {}).get("eo:cloud_cover") for it in items]
    columns: dict[str, pa.Array] = {
        "id": A.from_pylist([str(it.get("id")) for it in items], pa.string()),
        "datetime": A.from_pylist([item_datetime(it) for it in items], S.TIMESTAMP),
        "collection": A.from_pylist(
            [it.get("collection") or collection for it in items], pa.string()
        ),
        "cloud_cover": A.from_pylist(
            [None if c is None or not _is_number(c) else float(c) for c in cloud], pa.float64()
        ),
        "geometry": A.from_pylist(geometries, pa.binary()),
        "bbox": bbox,
        "epsg": A.from_pylist(epsgs, pa.int32()),
        "crs": A.from_pylist(crss, pa.string()),
        "georef_conflict": A.from_pylist(notes, pa.string()),
    }
    columns["assets"] = assets
    return pa.table(columns), order


def _naive_utc(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else moment.astimezone(dt.UTC).replace(tzinfo=None)


def _shape(geometry: Any) -> Any:
    """GeoJSON dict, WKB bytes or a Shapely geometry -> a Shapely geometry."""
    import shapely
    import shapely.geometry

    if isinstance(geometry, bytes | bytearray | memoryview):
        return shapely.from_wkb(bytes(geometry))
    if isinstance(geometry, shapely.Geometry):
        return geometry
    return shapely.geometry.shape(geometry)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


__all__ = [
    "BandsArg",
    "BuildExecutor",
    "Built",
    "Part",
    "PartRows",
    "Plan",
    "build_rows",
    "clean_href",
    "finish_rows",
    "items_band_map",
    "part_rows",
    "plan_rows",
]
