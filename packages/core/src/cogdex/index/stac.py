"""STAC items from an API search (`stac_api`) or from static files (ItemCollections,
catalogs, items, ndjson) on disk, a web server or an object store.

Items come back as plain dicts whose asset hrefs are absolute: relative hrefs are resolved
against the item's own location (its `self` link, else the file it was read from). Static
sources are filtered here with the same bbox/datetime/query/CQL2-filter semantics as an API.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import itertools
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from textwrap import shorten
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import urljoin, urlsplit

from cogdex.errors import BuildError
from cogdex.index.query import footprint_bbox, meets, sides

if TYPE_CHECKING:
    import cql2

    from cogdex.index.stac_api import Modifier

Bbox = tuple[float, float, float, float]
DateRange = tuple[Any, Any]


@runtime_checkable
class _StacObject(Protocol):
    """A pystac Item or ItemCollection."""

    def to_dict(self) -> dict[str, Any]: ...


@runtime_checkable
class _Search(Protocol):
    """A pystac-client ItemSearch."""

    def items_as_dicts(self) -> Iterator[dict[str, Any]]: ...


Items = Mapping[str, Any] | _StacObject | _Search | Iterable[Mapping[str, Any] | _StacObject]
"""What `build_from_items` takes (see `item_dicts`)."""


# -- dates -----------------------------------------------------------------------------------


def _parse_instant(value: Any, *, end: bool) -> dt.datetime:
    """A date, datetime or ISO string -> aware UTC datetime; a bare date as an end bound
    means the whole day (inclusive), as STAC APIs read `2024-02-01` in `../2024-02-01`."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time.max if end else dt.time.min)
    elif isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                day = dt.date.fromisoformat(text)
                moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min)
            else:
                moment = iso_datetime(text)
        except ValueError as exc:
            raise BuildError(f"date_range: cannot read {value!r} as an ISO date") from exc
    else:
        raise BuildError(f"date_range: {value!r} is not a date, datetime or ISO string")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def iso_datetime(text: str) -> dt.datetime:
    """An RFC 3339 / ISO 8601 datetime as Python reads it; RFC 3339 also allows a lower-case
    `t` and `z`, which `fromisoformat` refuses (an item dated so was dropped)."""
    return dt.datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))


def date_bounds(date_range: DateRange | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(start, end) inclusive, UTC; None for an open side."""
    if date_range is None:
        return None, None
    if isinstance(date_range, str) or len(date_range) != 2:
        raise BuildError(f"date_range must be a (start, end) pair, got {date_range!r}")
    start, end = date_range
    lo = None if start in (None, "", "..") else _parse_instant(start, end=False)
    hi = None if end in (None, "", "..") else _parse_instant(end, end=True)
    if lo and hi and lo > hi:
        raise BuildError(f"date_range starts after it ends: {date_range!r}")
    return lo, hi


def _interval(date_range: DateRange | None) -> str | None:
    lo, hi = date_bounds(date_range)
    if lo is None and hi is None:
        return None

    def fmt(d: dt.datetime | None) -> str:
        return ".." if d is None else d.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    return f"{fmt(lo)}/{fmt(hi)}"


def _instant(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return _parse_instant(value, end=False)
    except BuildError:
        return None


def item_datetime(item: Mapping[str, Any]) -> dt.datetime | None:
    """The instant an item is stored under: its `datetime`, else the start of its range."""
    props = item.get("properties") or {}
    return _instant(props.get("datetime") or props.get("start_datetime"))


def item_interval(item: Mapping[str, Any]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(start, end) of an item's time: its `start_datetime`/`end_datetime` range where it
    has one (annual products have `datetime: null`), else its `datetime` twice. A search
    matches an item whose interval overlaps it, as STAC APIs do."""
    props = item.get("properties") or {}
    moment = _instant(props.get("datetime"))
    start = _instant(props.get("start_datetime")) or moment
    end = _instant(props.get("end_datetime")) or moment or start
    return start, end


# -- API search ------------------------------------------------------------------------------


def search(
    api_url: str,
    collection: str,
    *,
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
    hooks: concurrent.futures.Future[None] | None = None,
) -> list[dict[str, Any]]:
    """Every item of `collection` the API returns for the search, as dicts with absolute
    asset hrefs (see `stac_api`; `hooks`: its `extension_hooks` already under way). A filter
    is sent as cql2-json, whichever form it was given in (pystac-client turns it into
    cql2-text for a GET search). A bbox across the antimeridian goes as `intersects`, see
    `_search_area`."""
    from cogdex.index import stac_api

    parameters: dict[str, Any] = {"collections": [collection]}
    if bbox is not None:
        parameters.update(_search_area(bbox))
    if date_range is not None:
        parameters["datetime"] = _interval(date_range)
    if query:
        parameters["query"] = dict(query)
    if filter is not None:
        parameters["filter"] = parse_filter(filter).to_json()
    if ids:
        parameters["ids"] = list(ids)
    if sortby:
        parameters["sortby"] = sortby if isinstance(sortby, str) else list(sortby)
    if fields:
        parameters["fields"] = list(fields)
    try:
        items = stac_api.search(
            api_url,
            parameters,
            max_items=max_items,
            headers=headers,
            modifier=modifier,
            hooks=hooks,
        )
    except stac_api.SearchError as exc:
        raise BuildError(str(exc)) from exc
    for item in items:
        _absolutize(item, _self_href(item) or api_url)
    return items


def _search_area(bbox: Bbox) -> dict[str, Any]:
    """The search parameter of a lon/lat bbox: `bbox` as given, or for one across the
    antimeridian (west > east) `intersects` the MultiPolygon of its two sides.

    The spec's west > east bbox is read by common servers as the box from east to west,
    the rest of the world: stac-fastapi-geoparquet 0.0.7 (the tests' API: rustac's DuckDB
    search) and pgstac (stac-utils/pgstac#428, stac-utils/stac-fastapi-pgstac#323, open).
    `intersects` is core Item Search and means the same items in one search, with the
    server's paging, sort and `max_items` as they are; a bbox can go as given once those
    servers read it as the spec says (the test of this search against the real API
    then passes with it)."""
    boxes = sides(bbox)
    if len(boxes) == 1:
        return {"bbox": list(bbox)}
    polygons = [[[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]] for x0, y0, x1, y1 in boxes]
    return {"intersects": {"type": "MultiPolygon", "coordinates": polygons}}


# -- items brought by the caller --------------------------------------------------------------


def item_dicts(items: Items) -> list[dict[str, Any]]:
    """Items as dicts with absolute asset hrefs, from pystac Items or item dicts, an
    ItemCollection (pystac's or its dict), a pystac-client search, or an iterable of those.

    Duck-typed (`to_dict`, `items_as_dicts`): pystac is never imported for them. The caller's
    dicts are copied down to their assets, so resolving hrefs never changes them."""
    objects: Iterable[Mapping[str, Any] | _StacObject]
    if isinstance(items, _Search):  # a pystac-client ItemSearch: no Item objects made
        objects = items.items_as_dicts()
    elif isinstance(items, Mapping | _StacObject):
        objects = [items]
    else:
        objects = items
    out: list[dict[str, Any]] = []
    for obj in objects:
        doc = (
            obj
            if isinstance(obj, Mapping)
            else obj.to_dict()
            if isinstance(obj, _StacObject)
            else {}
        )
        kind = doc.get("type")
        if kind == "FeatureCollection":
            features = doc.get("features") or ()
        elif kind == "Feature":
            features = (doc,)
        else:
            shown = shorten(repr(obj), 80)
            raise BuildError(f"not a STAC item or ItemCollection: {shown} (type {kind!r})")
        for feature in features:
            item = {
                **feature,
                "assets": {k: dict(v) for k, v in (feature.get("assets") or {}).items()},
            }
            base = _self_href(item)
            if base:
                _absolutize(item, base)
            out.append(item)
    return out


def item_digest(item: Mapping[str, Any]) -> str:
    """A hash of what an item says: without its links and with its asset hrefs made
    `safe_url` (a re-signed href is the same file)."""
    import hashlib

    from cogdex.redact import safe_url

    assets = {
        k: {**a, "href": safe_url(str(a.get("href", "")))}
        for k, a in (item.get("assets") or {}).items()
    }
    doc = {**item, "assets": assets, "links": None}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def items_digest(items: Sequence[Mapping[str, Any]]) -> str:
    """A hash of what the items say, in any order (`item_digest` of each)."""
    import hashlib

    digests = sorted(item_digest(item) for item in items)
    return hashlib.sha256("".join(digests).encode()).hexdigest()[:32]


# -- static files ----------------------------------------------------------------------------


def _read_text(location: str) -> str:
    """The text at a path or URL (HTTP and object stores through cogdex's stores)."""
    from cogdex.io import runtime
    from cogdex.io.fetch import is_not_found
    from cogdex.io.stores import stores
    from cogdex.io.urls import parse_url

    parsed = parse_url(location)
    try:
        if parsed.kind == "local":
            return Path(parsed.key).read_text()
        store, key, _ = stores().resolve(parsed)
        return bytes(runtime.obstore().get(store, key).bytes()).decode()
    except Exception as exc:
        if is_not_found(exc):
            raise BuildError(f"no STAC file at {location}") from exc
        raise BuildError(f"cannot read {location}: {str(exc).splitlines()[0]}") from exc


def as_url(location: str | os.PathLike[str]) -> str:
    """A static source's location as the URL `read_static` reads it by."""
    text = os.fspath(location)
    if "://" in text:
        return text
    return Path(text).expanduser().resolve().as_uri()


def _self_href(item: Mapping[str, Any]) -> str | None:
    for link in item.get("links") or ():
        if link.get("rel") == "self" and "://" in str(link.get("href", "")):
            return str(link["href"])
    return None


def _absolutize(item: dict[str, Any], base: str) -> None:
    for asset in (item.get("assets") or {}).values():
        href = asset.get("href")
        if isinstance(href, str) and "://" not in href:
            if href.startswith("/") and base.startswith("file://"):
                asset["href"] = Path(href).as_uri()
            else:
                asset["href"] = urljoin(base, href)


def read_static(
    location: str | os.PathLike[str], read: set[str] | None = None
) -> list[dict[str, Any]]:
    """Items of a static source: an ItemCollection / FeatureCollection, an item, an ndjson
    file of items, or a catalog/collection whose `item` and `child` links are followed.
    `read`, if given, receives the URL of every file read."""
    url = as_url(location)
    items: list[dict[str, Any]] = []
    _collect(url, items, seen=set() if read is None else read)
    return items


def _collect(url: str, items: list[dict[str, Any]], seen: set[str]) -> None:
    if url in seen:
        return
    seen.add(url)
    text = _read_text(url)
    docs: list[Any]
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        try:
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise BuildError(f"{url} is not STAC JSON or ndjson ({exc})") from exc
    for doc in docs:
        if not isinstance(doc, dict):
            raise BuildError(f"{url} is not a STAC document")
        kind = doc.get("type")
        if kind == "FeatureCollection":
            for feature in doc.get("features") or ():
                _absolutize(feature, _self_href(feature) or url)
                items.append(feature)
        elif kind == "Feature":
            _absolutize(doc, _self_href(doc) or url)
            items.append(doc)
        elif kind in ("Catalog", "Collection") or "links" in doc:
            base = _self_href(doc) or url
            for link in doc.get("links") or ():
                if link.get("rel") in ("item", "child", "items"):
                    _collect(urljoin(base, str(link["href"])), items, seen)
        else:
            raise BuildError(f"{url}: not a STAC item, ItemCollection or catalog (type {kind!r})")


def _bbox_of(item: Mapping[str, Any]) -> Sequence[float] | None:
    """An item's bbox as RFC 7946 writes it (xmin > xmax across the antimeridian): its own,
    else its geometry's (WKB from a table row, or GeoJSON)."""
    box = item.get("bbox")
    if box and len(box) >= 4:
        if len(box) == 6:
            return (box[0], box[1], box[3], box[4])
        return (box[0], box[1], box[2], box[3])
    geometry = item.get("geometry")
    if geometry:
        import shapely
        import shapely.geometry

        if isinstance(geometry, bytes):
            return footprint_bbox(shapely.from_wkb(geometry))
        return footprint_bbox(shapely.geometry.shape(geometry))
    return None


_QUERY_OPS = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "in": lambda a, b: a in b,
    "startsWith": lambda a, b: str(a).startswith(b),
    "endsWith": lambda a, b: str(a).endswith(b),
    "contains": lambda a, b: b in str(a),
}


def _matches_query(props: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for name, conditions in query.items():
        value = props.get(name)
        for op, operand in conditions.items():
            test = _QUERY_OPS.get(op)
            if test is None:
                raise BuildError(f"query: unsupported operator {op!r} for {name!r}")
            if value is None:
                return False
            try:
                if not test(value, operand):
                    return False
            except TypeError:
                return False
    return True


def _one_line(exc: Exception) -> str:
    """cql2's parse errors draw the text with a caret over several lines: keep the position
    (`--> line:col`) and the reason (`= expected ...`); other errors are one line already."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    where = next((line[4:] for line in lines if line.startswith("--> ")), None)
    why = next((line[2:] for line in lines if line.startswith("= ")), " ".join(lines))
    return f"at {where}: {why}" if where else why


def parse_filter(filter: Mapping[str, Any] | str) -> cql2.Expr:
    """A CQL2 filter (a cql2-json dict or string, or cql2-text), parsed and validated against
    the CQL2 schema, so a bad filter fails the build before any request.

    Imports cql2 here: builds and loads without a filter never pay for it."""
    import cql2

    is_text = isinstance(filter, str) and not filter.lstrip().startswith("{")
    language = "cql2-text" if is_text else "cql2-json"
    try:
        if isinstance(filter, str):
            expr = cql2.parse_text(filter) if is_text else cql2.parse_json(filter)
        else:
            expr = cql2.parse_json(json.dumps(filter))
    except (cql2.ParseError, TypeError) as exc:
        shown = shorten(repr(filter), 120)
        raise BuildError(f"filter {shown} does not parse as {language}: {_one_line(exc)}") from exc
    try:
        expr.validate()
    except cql2.ValidationError as exc:
        raise BuildError(f"filter is not valid CQL2: {_one_line(exc)}") from exc
    return expr


def _evaluate(expr: cql2.Expr, item: dict[str, Any]) -> bool | str:
    """Whether `item` satisfies `expr`; where cql2 cannot tell, the part of the filter it could
    not reduce (cql2-text).

    cql2 resolves a property name against the item's top-level fields (`id`, `collection`,
    `geometry`, ...) first, then its `properties` (so `eo:cloud_cover` and
    `properties.eo:cloud_cover` both work), and compares ISO strings as instants against
    TIMESTAMP/DATE/INTERVAL. What it cannot reduce (a property the item lacks, a number
    compared with a string) is SQL's NULL, which a search API's WHERE clause leaves out."""
    reduced = expr.reduce(item)
    verdict = reduced.to_json()
    return verdict if isinstance(verdict, bool) else str(reduced)


def _matching(expr: cql2.Expr, items: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """The items that satisfy `expr`. A filter that can be evaluated on none of them names
    something no item has (a misspelt property, a function cql2 cannot evaluate): the build
    of nothing would fail anyway, so this raises with the part that is left over."""
    evaluated, left_over = False, None
    for item in items:
        verdict = _evaluate(expr, item)
        if verdict is True:
            yield item
        evaluated = evaluated or isinstance(verdict, bool)
        left_over = left_over or (verdict if isinstance(verdict, str) else None)
    if left_over is not None and not evaluated:
        raise BuildError(
            f"filter cannot be evaluated on any item: {shorten(left_over, 160)!r} is left over "
            "(a property no item has, a type mismatch, or a function cql2 cannot evaluate)"
        )


def _in_search(
    item: Mapping[str, Any],
    collection: str | None,
    ids: set[str] | None,
    bbox: Bbox | None,
    dates: tuple[dt.datetime | None, dt.datetime | None],
    query: Mapping[str, Any] | None,
) -> bool:
    """Whether `item` passes the search arguments other than the CQL2 filter."""
    if collection and item.get("collection") not in (None, collection):
        return False
    if ids is not None and item.get("id") not in ids:
        return False
    box = None if bbox is None else _bbox_of(item)
    if bbox is not None and (box is None or not meets(box, bbox)):
        return False
    lo, hi = dates
    if lo is not None or hi is not None:
        start, end = item_interval(item)
        if start is None or end is None:
            return False
        if (lo is not None and end < lo) or (hi is not None and start > hi):
            return False
    return not query or _matches_query(item.get("properties") or {}, query)


def filter_items(
    items: Sequence[dict[str, Any]],
    *,
    collection: str | None = None,
    bbox: Bbox | None = None,
    date_range: DateRange | None = None,
    query: Mapping[str, Any] | None = None,
    filter: Mapping[str, Any] | str | None = None,
    ids: Sequence[str] | None = None,
    max_items: int | None = None,
) -> list[dict[str, Any]]:
    """The items a STAC API would return for the same search, `filter` (CQL2, evaluated by
    cql2 after the other arguments: see `_evaluate` for how it reads an item) included."""
    expr = parse_filter(filter) if filter is not None else None
    dates = date_bounds(date_range)
    wanted = set(ids) if ids else None
    kept: Iterable[dict[str, Any]] = (
        item for item in items if _in_search(item, collection, wanted, bbox, dates, query)
    )
    if expr is not None:
        kept = _matching(expr, kept)
    return list(itertools.islice(kept, max_items))


def is_static(location: str | os.PathLike[str]) -> bool:
    """Whether `location` names a file (JSON/ndjson) rather than a STAC API root."""
    text = os.fspath(location)
    if "://" not in text or text.startswith("file://"):
        return True
    path = urlsplit(text).path.lower()
    return path.endswith((".json", ".geojson", ".ndjson", ".jsonl"))


def iter_assets(item: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    yield from (item.get("assets") or {}).items()


__all__ = [
    "Bbox",
    "DateRange",
    "Items",
    "as_url",
    "date_bounds",
    "filter_items",
    "is_static",
    "iso_datetime",
    "item_datetime",
    "item_dicts",
    "item_digest",
    "items_digest",
    "parse_filter",
    "read_static",
    "search",
]
