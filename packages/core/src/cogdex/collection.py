"""`Collection`: the scenes of an index, their bands and headers, as users hold them.

A collection is an Arrow table (one row per scene) plus its metadata (name, band map,
source, store options). One loaded from disk stays lazy: filters compose into a predicate
that Parquet row-group statistics prune with, and rows are read on first use, so
`load(...).subset(...)` on a large index reads a few row groups. Nothing here touches the
network except `export`/`load` of object-store URLs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import pyarrow as pa

from cogdex.errors import CogdexError, IndexSchemaError, MissingPluginError
from cogdex.index import arrays as A
from cogdex.index import query as Q
from cogdex.index import schema as S
from cogdex.read import DEFAULT_MAX_MEMORY
from cogdex.read.bbox import check_bbox

if TYPE_CHECKING:
    import pyarrow.compute as pc
    import xarray as xr
    from numpy.typing import DTypeLike
    from torchgeo.datasets import GeoDataset

    from cogdex.index.band import BandSource
    from cogdex.index.store import IndexFiles
    from cogdex.io.stores import StoreOptions
    from cogdex.read.grid import Resampling
    from cogdex.read.scenes import Merge
    from cogdex.tiff.model import TIFFHeader


class Collection:
    """Scenes with per-band COG headers: filter, extend, export, and hand to readers.

    Build one with `cogdex.build*`, `cogdex.load` or `cogdex.as_collection`.
    """

    def __init__(
        self,
        table: pa.Table | None,
        meta: S.IndexMetadata,
        *,
        files: IndexFiles | None = None,
        conditions: Sequence[Q.Condition] = (),
        location: str | None = None,
        read_options: Mapping[str, Any] | None = None,
    ):
        if table is None and files is None:
            raise ValueError("a Collection needs a table or index files")
        # Store options given to the build or to `load` (credentials included): used for
        # reads in this process, never written to an index.
        self._read_options = dict(read_options or {})
        self._table = table
        self._light_table: pa.Table | None = None
        self._meta = meta
        self._files = files
        self._conditions = tuple(conditions)
        self._location = location
        self._bands_cache: dict[str, BandSource] = {}

    # -- identity ----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._meta.name

    @property
    def metadata(self) -> S.IndexMetadata:
        """Name, band map, source, store options, skipped assets (the `cogdex` metadata)."""
        return self._meta

    @property
    def source(self) -> Mapping[str, Any]:
        return self._meta.source

    @property
    def store_options(self) -> StoreOptions:
        """The store options reads use: the index's (never secret) and those given to the
        build or to `load` in this process (its repr hides their secrets)."""
        from cogdex.io.stores import StoreOptions  # here: loading and filtering never need it

        return StoreOptions({**self._meta.store_options, **self._read_options})

    @property
    def location(self) -> str | None:
        """The file or folder this collection was loaded from or last exported to."""
        return self._location

    @property
    def bands(self) -> list[str]:
        """Band names, as `get_numpy(bands=...)` takes them."""
        return list(self._meta.bands)

    @property
    def band_map(self) -> dict[str, S.BandRef]:
        """Band name -> (asset key, band_index)."""
        return dict(self._meta.bands)

    @property
    def skipped(self) -> list[dict[str, str]]:
        """Assets the build could not index: id, asset, href and the reason."""
        return [dict(s) for s in self._meta.skipped]

    # -- rows --------------------------------------------------------------------------------

    def _light(self) -> pa.Table:
        """The rows without `assets` (plus their location in the files when lazy)."""
        if self._table is not None:
            return self._table
        if self._light_table is None:
            assert self._files is not None
            self._light_table = self._files.read(self._conditions, light=True)
        return self._light_table

    def _rows(self) -> pa.Table:
        if self._table is None:
            assert self._files is not None
            from cogdex.index.store import LOCATION

            light = self._light()
            assets = self._files.read_assets(light)
            table = light.drop_columns(list(LOCATION)).append_column("assets", assets)
            self._table = S.conform(table)
        return self._table

    def __len__(self) -> int:
        if self._table is None and not self._conditions and self._files is not None:
            return self._files.count()
        return self._light().num_rows

    def _schema(self) -> pa.Schema:
        if self._table is not None:
            return self._table.schema
        assert self._files is not None
        return self._files.schema

    @property
    def columns(self) -> list[str]:
        return list(self._schema().names)

    @property
    def epsg_codes(self) -> list[int]:
        """Distinct EPSG codes of the scenes (scenes without one are in `crs` only)."""
        import pyarrow.compute as pc

        codes = pc.unique(self._light().column("epsg").drop_null()).to_pylist()
        return sorted(int(c) for c in codes)

    @property
    def crs(self) -> list[str]:
        """Distinct scene CRSs: "EPSG:n", or WKT2/PROJJSON for CRSs without a code."""
        import pyarrow.compute as pc

        return sorted(pc.unique(self._light().column("crs").drop_null()).to_pylist())

    @property
    def ids(self) -> list[str]:
        return self._light().column("id").to_pylist()

    def __repr__(self) -> str:
        source = self._meta.source
        origin = (
            source.get("dataset")
            or source.get("url")
            or source.get("api_url")
            or source.get("table")
            or "?"
        )
        if source.get("collection"):
            origin = f"{origin} ({source['collection']})"
        n = len(self)
        crs = self.crs
        shown = ", ".join(c if len(c) < 40 else c[:37] + "..." for c in crs[:4])
        more = f" +{len(crs) - 4}" if len(crs) > 4 else ""
        bands = self.bands
        band_text = ", ".join(bands[:12]) + (f" +{len(bands) - 12}" if len(bands) > 12 else "")
        return (
            f"<cogdex.Collection {self.name!r}: {n} record{'s' * (n != 1)}, "
            f"bands [{band_text}], CRS [{shown}{more}], source {origin}>"
        )

    # -- filters -----------------------------------------------------------------------------

    def _derive(self, table: pa.Table) -> Collection:
        return Collection(
            table, self._meta, location=self._location, read_options=self._read_options
        )

    def _filtered(self, conditions: Sequence[Q.Condition]) -> Collection:
        if self._table is None:
            return Collection(
                None,
                self._meta,
                files=self._files,
                conditions=(*self._conditions, *conditions),
                location=self._location,
                read_options=self._read_options,
            )
        return self._derive(Q.apply(self._table, conditions))

    def where(self, expression: pc.Expression) -> Collection:
        """The records matching a pyarrow compute expression, e.g.
        `pc.field("platform") == "sentinel-2a"` or `pc.field("bbox", "xmin") > 77`.

        On an unloaded index an expression over the columns other than `assets` stays
        lazy: it prunes row groups by their statistics (the bbox covering, dates, scalar
        columns) and the headers are read for the matching rows only."""
        if self._table is None and _without_assets(self._files, expression):
            return self._filtered([Q.Where(expression)])
        return self._derive(self._rows().filter(expression))

    def subset(
        self,
        *,
        cloud_cover_lt: float | None = None,
        date_range: tuple[Any, Any] | None = None,
        bbox: Sequence[float] | None = None,
        geometries: Any = None,
        geometry_crs: int | str | None = None,
        split: str | Sequence[str] | None = None,
        split_column: str = "split",
    ) -> Collection:
        """The records that pass every filter given (in memory; row groups of an unloaded
        index are pruned by their statistics before any row is read).

        Args:
            cloud_cover_lt: Keep cloud cover strictly below this percentage (records
                whose cover is unknown, null in `cloud_cover`, are left out).
            date_range: (start, end), inclusive, UTC; a bare end date means its whole day;
                a record with an `end_datetime` matches where its range overlaps.
            bbox: (xmin, ymin, xmax, ymax) in lon/lat: records whose footprint bbox meets it
                (a footprint across the antimeridian: the bbox of one of its two sides). A
                box across the antimeridian is written west > east, as RFC 7946 and the
                STAC API write it: `(170, -20, -170, -10)` keeps the records that its two
                sides, 170..180 and -180..-170, would keep together.
            geometries: Records whose footprint intersects any of them (anything
                `get_numpy` takes, in their own CRS, else `geometry_crs`, else lon/lat; a
                lon/lat bbox tuple across the antimeridian too, as for `bbox`).
            geometry_crs: The CRS of `geometries` that carry none.
            split: Label(s) to keep in `split_column` (see `with_column`).
            split_column: The column holding split labels.

        Returns:
            A new Collection (this one is unchanged), possibly empty.

        Raises:
            GeometryError: A bbox or geometry that is not one (south > north, outside
                lon/lat ranges, not finite), naming the coordinate at fault.
            CRSError: A `geometry_crs` PROJ cannot read.
            IndexSchemaError: `split` with no `split_column` in the collection.
            StaleIndexError: The index files changed since the collection was loaded.
        """
        from cogdex.index.stac import date_bounds

        conditions: list[Q.Condition] = []
        if cloud_cover_lt is not None:
            conditions.append(Q.Range("cloud_cover", hi=float(cloud_cover_lt), strict_hi=True))
        if date_range is not None:
            lo, hi = date_bounds(date_range)
            schema = self._schema()
            if "end_datetime" in schema.names and pa.types.is_timestamp(
                schema.field("end_datetime").type
            ):  # records spanning a range (annual products) match where it overlaps
                conditions.append(Q.Range("datetime", hi=hi))
                conditions.append(Q.Range("end_datetime", lo=lo, fallback="datetime"))
            else:
                conditions.append(Q.Range("datetime", lo=lo, hi=hi))
        if bbox is not None:
            # a box across the antimeridian: its two sides; records across it: their parts'
            box = check_bbox(bbox, across=True)
            conditions += [*Q.bbox_conditions(box), Q.Parts(box)]
        if split is not None:
            if split_column not in self.columns:
                raise IndexSchemaError(
                    f"collection {self.name!r} has no column {split_column!r} for split=; "
                    f"add one with with_column()"
                )
            labels = (split,) if isinstance(split, str) else tuple(split)
            conditions.append(Q.IsIn(split_column, labels))
        shapes = None
        if geometries is not None:
            import shapely

            from cogdex.read.geometries import as_areas

            shapes = as_areas(geometries, geometry_crs, across=True).lonlat
            conditions += Q.bbox_conditions(shapely.total_bounds(shapes))
        result = self._filtered(conditions) if conditions else self
        if shapes is not None:
            result = result._intersecting(shapes)
        return result

    def _intersecting(self, shapes: np.ndarray) -> Collection:
        import shapely

        table = self._rows()
        footprints = shapely.from_wkb(A.to_numpy(table.column("geometry")))
        tree = shapely.STRtree(footprints)
        hit = A.distinct(tree.query(shapes, predicate="intersects")[1])
        return self._derive(A.take(table, np.sort(hit)))

    def head(self, n: int = 5) -> Collection:
        return self._derive(self._rows().slice(0, n))

    def __getitem__(self, key: int | slice | Sequence[int] | np.ndarray) -> Collection:
        """The records at positions `key` (an int, a slice, integer positions) or where a
        boolean mask of one value per record is True, as NumPy indexes; positions that
        repeat a record are an IndexError, as ids are unique in a collection."""
        table = self._rows()
        if isinstance(key, int | np.integer) and not isinstance(key, bool | np.bool_):
            if not -len(table) <= key < len(table):
                raise IndexError(f"record {key} is out of range for {len(table)} records")
            return self._derive(table.slice(int(key) % len(table), 1))
        if isinstance(key, slice):
            return self._derive(A.take(table, np.arange(len(table))[key]))
        # NumPy's own indexing: a mask selects (never read as the positions 0 and 1),
        # negative positions count from the end, and out-of-range ones raise IndexError
        index = np.asarray(key)
        index = index if index.size else index.astype(np.intp)  # [] reads as floats
        positions = np.arange(len(table))[index]
        values, counts = np.unique(positions, return_counts=True)
        if (counts > 1).any():
            raise IndexError(
                f"the positions name record {int(values[counts > 1][0])} more than once: a "
                "record's id is unique in a collection (export, load, extend and the reads "
                "key on it)"
            )
        return self._derive(A.take(table, positions))

    # -- user columns ------------------------------------------------------------------------

    def with_column(self, name: str, values: Any) -> Collection:
        """A copy with column `name` (replaced if it exists): an array/list with one value
        per record, or a function called with each record's scalar columns as a dict.

        A string, bytes or a mapping is refused: Arrow would take a string of the right
        length as one character per record, a silent wrong column."""
        if name in S.RESERVED:
            raise ValueError(f"{name!r} is a core column of the index and cannot be replaced")
        if isinstance(values, str | bytes | Mapping):
            raise TypeError(
                f"column {name!r} needs one value per record (a list or an array) or a "
                f"function, not a {type(values).__name__}; for one value everywhere pass "
                "[value] * len(collection)"
            )
        table = self._rows()
        if callable(values):
            scalars = [f.name for f in table.schema if f.name != "assets" and f.name != "geometry"]
            records = table.select(scalars).to_pylist()
            column = pa.array([values(r) for r in records])
        else:
            column = values if isinstance(values, pa.Array | pa.ChunkedArray) else None
            if column is None:
                try:
                    column = pa.array(values)
                except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                    raise ValueError(
                        f"column {name!r}: Arrow cannot make one value per record of these "
                        f"values ({exc}); for a vector per record pass list(array)"
                    ) from exc
        if len(column) != len(table):
            raise ValueError(f"column {name!r} has {len(column)} values for {len(table)} records")
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, column)
        else:
            at = table.column_names.index("assets")
            table = table.add_column(at, name, column)
        return self._derive(table)

    def join(self, other: Any, on: str = "id", *, how: str = "left outer") -> Collection:
        """Add the columns of an Arrow table (or anything with `__arrow_c_stream__`) matched
        on `on`; every record is kept (`how="inner"` keeps matched ones only)."""
        import pyarrow.compute as pc

        right = _as_table(other)
        if on not in right.column_names:
            raise IndexSchemaError(f"the table to join has no {on!r} column")
        clash = (set(right.column_names) - {on}) & set(S.RESERVED)
        if clash:
            raise ValueError(f"the table to join has core column(s) {sorted(clash)}")
        if pc.count_distinct(right.column(on)).as_py() != len(right):
            raise ValueError(f"the table to join has repeated values in {on!r}")
        if how not in ("left outer", "inner"):
            raise ValueError(f"how must be 'left outer' or 'inner', not {how!r}")
        table = self._rows()
        # Arrow joins cannot carry struct columns: join row numbers, then take. The row
        # number's column is named after none of the user's.
        row = "__row"
        while row in right.column_names:
            row = f"_{row}"
        keys = pa.table({on: table.column(on), row: A.from_numpy(np.arange(len(table)))})
        joined = keys.join(right, on, join_type=how).sort_by(row)
        result = table.take(joined.column(row))
        for name in right.column_names:
            if name == on:
                continue
            column = joined.column(name)
            if name in result.column_names:
                result = result.set_column(result.column_names.index(name), name, column)
            else:
                result = result.add_column(result.column_names.index("assets"), name, column)
        return self._derive(result)

    # -- growing -----------------------------------------------------------------------------

    def extend(self, other: Collection | Any) -> Collection:
        """This collection plus the records of `other` (a Collection or a table of the same
        layout); a record whose id is already here is replaced by the new one.

        A collection reads every record with one set of store options, so a Collection
        whose options differ from this one's is refused, unless all the records of one of
        the two are local files (which take none): the others' options are kept. A table
        whose `cogdex` metadata holds other (public) store options is refused the same way;
        a table without any joins this collection's.

        Raises:
            IndexSchemaError: The two map a band to different assets.
            StoreError: The two read through stores with different store options."""
        import pyarrow.compute as pc

        incoming = other if isinstance(other, Collection) else as_collection(other, self.name)
        mine, theirs = self.band_map, incoming.band_map
        clash = {b for b in set(mine) & set(theirs) if mine[b] != theirs[b]}
        if clash:
            raise IndexSchemaError(f"band map differs for {sorted(clash)}")
        new = incoming._rows()
        old = self._rows()
        kept_options = self
        if _other_options(self, other, incoming):
            kept_options = _options_kept(self, old, incoming, new)
        replaced = pc.is_in(old.column("id"), value_set=new.column("id"))
        kept = _without(old, A.to_numpy(replaced, fill=False).astype(bool))
        table = pa.concat_tables([kept, new], promote_options="permissive")
        meta = replace(
            self._meta,
            bands={**mine, **theirs},
            skipped=tuple(self._meta.skipped) + tuple(incoming._meta.skipped),
            store_options=kept_options._meta.store_options,
        )
        return Collection(
            S.conform(table),
            meta,
            location=self._location,
            read_options=kept_options._read_options,
        )

    # -- output ------------------------------------------------------------------------------

    def to_arrow(self) -> pa.Table:
        """The records as an Arrow table, with the `geo` and `cogdex` metadata."""
        from cogdex.index.store import geo_metadata

        table = self._rows()
        metadata = {
            **(table.schema.metadata or {}),
            S.GEO_KEY: _json(geo_metadata(table)),
            S.METADATA_KEY: self._meta.to_json(),
        }
        return table.replace_schema_metadata(metadata)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    def to_geopandas(self) -> Any:
        """A GeoDataFrame (CRS84 footprints); the header struct stays an object column."""
        try:
            import geopandas
        except ImportError as exc:
            raise CogdexError("to_geopandas() needs geopandas: pip install geopandas") from exc
        table = self._rows()
        geometry = geopandas.GeoSeries.from_wkb(
            table.column("geometry").to_numpy(zero_copy_only=False), crs="OGC:CRS84"
        )
        frame = table.drop_columns(["geometry"]).to_pandas()
        return geopandas.GeoDataFrame(frame, geometry=geometry.values, crs="OGC:CRS84")

    def export(
        self,
        destination: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        partition: bool | None = None,
        store_options: Mapping[str, Any] | None = None,
    ) -> str:
        """Write the collection as GeoParquet that `cogdex.load` (and GeoPandas, DuckDB,
        Spark) reads back. Writes are atomic: a failed export leaves what was there.

        Args:
            destination: A local path or object-store URL. One ending in a separator
                (`"out/"`), or an existing folder, receives `<name>.parquet`.
            overwrite: Replace a cogdex index already at the destination. Nothing but a
                cogdex index is ever replaced.
            partition: Write one file per year under a folder (default: when the
                collection has more than 100,000 rows and more than one year).
            store_options: How an object-store destination is reached.

        Returns:
            Where the index went (a file or a folder path, or a URL).

        Raises:
            ExportError: Something other than a cogdex index is at the destination, or an
                index is there and `overwrite` is False; raised before any write.
            IndexWriteError: The write failed (full disk, read-only folder, store refusal).
            StoreError: An object-store destination that cannot be reached.
        """
        from cogdex.index import store

        target = store.export_target(
            destination, self.name, overwrite=overwrite, store_options=store_options
        )
        # An export is never a build's cache entry, whatever it holds: with the key of the
        # build it came from, a subset exported over the cached file would be loaded by
        # that build's next call as if it were the build's whole result.
        meta = replace(self._meta, cache_key=None)
        return store.write(
            self._rows(), meta, target, partition=partition, store_options=store_options
        )

    def band_source(self, band: str) -> BandSource:
        """Band `band` as flat column arrays for the reader (see `cogdex.index.band`)."""
        return self.band_sources([band])[0]

    def band_sources(self, bands: Sequence[str]) -> list[BandSource]:
        """`band_source` of several bands at once: from index files not yet loaded, only
        their assets' headers are read (a Sentinel-2 index holds a dozen assets per row)."""
        refs: dict[str, S.BandRef] = {}
        for band in bands:
            ref = self._meta.bands.get(band)
            if ref is None:
                raise KeyError(f"no band {band!r} in {self.name!r}; bands: {', '.join(self.bands)}")
            if band not in self._bands_cache:
                refs[band] = ref
        if refs:
            from cogdex.index.band import band_source

            table = self._with_assets(sorted({ref.asset for ref in refs.values()}))
            for band, ref in refs.items():
                self._bands_cache[band] = band_source(table, band, ref, self.store_options)
        return [self._bands_cache[band] for band in bands]

    def _with_assets(self, keys: list[str]) -> pa.Table:
        """Rows whose `assets` hold at least `keys`: the loaded rows, else the light rows with
        just those assets read from the files."""
        if self._table is not None or self._files is None:
            return self._rows()
        if not set(keys) <= set(self._files.schema.field("assets").type.names):
            return self._rows()  # reports the missing asset as a full read does
        light = self._light()
        return light.append_column("assets", self._files.read_assets(light, keys))

    def header(self, record: int | str, band: str) -> TIFFHeader:
        """The parsed COG header of one record's band (by row number or id)."""
        source = self.band_source(band)
        return source.header(_position(source, record, band))

    def band_values(self, record: int | str, band: str) -> dict[str, float | None]:
        """How one record's band turns stored values into physical ones: `scale` and
        `offset` (the STAC item's `raster:bands`, else the file's GDAL metadata; None where
        neither says) and `nodata` (the file's, else the item's), as `scale=True` reads
        apply them."""
        source = self.band_source(band)
        i = _position(source, record, band)
        values = {"scale": source.scale[i], "offset": source.offset[i]}
        out = {k: None if np.isnan(v) else float(v) for k, v in values.items()}
        nodata = source.nodata[i] if source.has_nodata[i] else source.stac_nodata[i]
        out["nodata"] = None if np.isnan(nodata) and not source.has_nodata[i] else float(nodata)
        return out

    # -- pixels ------------------------------------------------------------------------------

    def read_inputs(self, bands: str | Sequence[str]) -> tuple[pa.Table, list[BandSource]]:
        """What a pixel read of `bands` needs of this collection, as plain data: its rows
        without assets (ids, dates, footprints, bboxes and user columns) and one
        `BandSource` per band, in order. Adapters hand both to `cogdex.read.plan`.

        Raises:
            ValueError: no band is given.
            KeyError: a band is not in the collection (the message lists its bands).
        """
        names = [bands] if isinstance(bands, str) else list(bands)
        if not names:
            raise ValueError("no bands given")
        unknown = [b for b in names if b not in self._meta.bands]
        if unknown:
            raise KeyError(
                f"unknown band(s) {', '.join(unknown)} in {self.name!r}; "
                f"bands: {', '.join(self.bands)}"
            )
        return self._light(), self.band_sources(names)

    @overload
    def get_numpy(
        self,
        geometries: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = ...,
        resolution: float | tuple[float, float] | None = ...,
        crs: int | str | None = ...,
        resampling: Resampling = ...,
        fill_value: float | None = ...,
        mask: bool = ...,
        merge: Merge | None = ...,
        group_by: str | None = ...,
        dtype: DTypeLike | None = ...,
        max_memory: int | None = ...,
        return_mask: Literal[False] = ...,
        return_table: Literal[False] = ...,
        use_overviews: bool = ...,
        scale: bool = ...,
    ) -> np.ndarray: ...
    @overload
    def get_numpy(
        self,
        geometries: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = ...,
        resolution: float | tuple[float, float] | None = ...,
        crs: int | str | None = ...,
        resampling: Resampling = ...,
        fill_value: float | None = ...,
        mask: bool = ...,
        merge: Merge | None = ...,
        group_by: str | None = ...,
        dtype: DTypeLike | None = ...,
        max_memory: int | None = ...,
        return_mask: Literal[True],
        return_table: Literal[False] = ...,
        use_overviews: bool = ...,
        scale: bool = ...,
    ) -> tuple[np.ndarray, np.ndarray]: ...
    @overload
    def get_numpy(
        self,
        geometries: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = ...,
        resolution: float | tuple[float, float] | None = ...,
        crs: int | str | None = ...,
        resampling: Resampling = ...,
        fill_value: float | None = ...,
        mask: bool = ...,
        merge: Merge | None = ...,
        group_by: str | None = ...,
        dtype: DTypeLike | None = ...,
        max_memory: int | None = ...,
        return_mask: Literal[False] = ...,
        return_table: Literal[True],
        use_overviews: bool = ...,
        scale: bool = ...,
    ) -> tuple[np.ndarray, pa.Table]: ...
    @overload
    def get_numpy(
        self,
        geometries: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = ...,
        resolution: float | tuple[float, float] | None = ...,
        crs: int | str | None = ...,
        resampling: Resampling = ...,
        fill_value: float | None = ...,
        mask: bool = ...,
        merge: Merge | None = ...,
        group_by: str | None = ...,
        dtype: DTypeLike | None = ...,
        max_memory: int | None = ...,
        return_mask: Literal[True],
        return_table: Literal[True],
        use_overviews: bool = ...,
        scale: bool = ...,
    ) -> tuple[np.ndarray, np.ndarray, pa.Table]: ...
    @overload
    def get_numpy(
        self,
        geometries: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = ...,
        resolution: float | tuple[float, float] | None = ...,
        crs: int | str | None = ...,
        resampling: Resampling = ...,
        fill_value: float | None = ...,
        mask: bool = ...,
        merge: Merge | None = ...,
        group_by: str | None = ...,
        dtype: DTypeLike | None = ...,
        max_memory: int | None = ...,
        return_mask: bool = ...,
        return_table: bool = ...,
        use_overviews: bool = ...,
        scale: bool = ...,
    ) -> (
        np.ndarray
        | tuple[np.ndarray, np.ndarray]
        | tuple[np.ndarray, pa.Table]
        | tuple[np.ndarray, np.ndarray, pa.Table]
    ): ...
    def get_numpy(
        self,
        geometries: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = None,
        resolution: float | tuple[float, float] | None = None,
        crs: int | str | None = None,
        resampling: Resampling = "nearest",
        fill_value: float | None = None,
        mask: bool = False,
        merge: Merge | None = None,
        group_by: str | None = "date",
        dtype: DTypeLike | None = None,
        max_memory: int | None = DEFAULT_MAX_MEMORY,
        return_mask: bool = False,
        return_table: bool = False,
        use_overviews: bool = True,
        scale: bool = False,
    ) -> (
        np.ndarray
        | tuple[np.ndarray, np.ndarray]
        | tuple[np.ndarray, pa.Table]
        | tuple[np.ndarray, np.ndarray, pa.Table]
    ):
        """Pixels of `bands` over `geometries`, as [N, C, H, W] ([N, H, W] for one band).

        One N per (geometry, intersecting record), in record order (by datetime, then id: not the
        row order), or with `merge` one per (geometry, group of records). A geometry that meets no
        record adds no N (an `EmptyReadWarning` says so). See docs/pixels.md.

        Args:
            geometries: a (xmin, ymin, xmax, ymax) tuple, Shapely geometries, WKB, WKT,
                GeoJSON, a pyarrow geometry array or GeoPandas (docs/pixels.md).
            bands: band name(s), as `bands` lists them.
            geometry_crs: the CRS of `geometries` that carry none (default lon/lat).
            resolution: target pixel size in `crs` units; with `crs`, the grid snaps to
                its multiples. Default: the first covering record's pixel lattice.
            crs: target CRS (default: the first covering record's).
            resampling: "nearest" or "bilinear" (bilinear of integers gives float32).
            fill_value: value of pixels no record fills (default: nodata, else 0).
            mask: also fill pixels whose centre is outside the geometry.
            merge: merge each group of records: "first", "last", "min", "max", "mean"
                or "median"; None reads one N per record.
            group_by: the groups `merge` forms: "date" (UTC day), a column, or None (all).
            dtype: output dtype (default: the files' own).
            max_memory: bytes the estimated peak may reach (None: no limit).
            return_mask: also return the boolean valid-pixel mask of the array's shape.
            return_table: also return a pyarrow Table saying which geometry and record(s)
                each N is (`geometry_index`, `id`, `ids`, `datetime`, `crs`, `transform`).
            use_overviews: read the coarsest overview still as fine as the target.
            scale: float32 physical values `raw * scale + offset`, NaN for nodata.

        Returns:
            The array; with `return_mask` and/or `return_table`, a tuple of the array,
            then the mask, then the table.

        Raises:
            KeyError: an unknown band or `group_by` column.
            ValueError: an unknown `merge`, or `scale` with `dtype`/`fill_value`.
            GeometryError: empty geometries or a `geometry_crs` contradicting their own.
            MemoryLimitError: the estimated peak exceeds `max_memory` (before any request).
        """
        from cogdex import pixels

        table, sources = self.read_inputs(bands)
        read = pixels.get_numpy(
            table, sources, geometries, geometry_crs=geometry_crs, resolution=resolution,
            crs=crs, resampling=resampling, fill_value=fill_value, mask=mask, merge=merge,
            group_by=group_by, dtype=dtype, max_memory=max_memory,
            use_overviews=use_overviews, scale=scale, with_table=return_table,
        )  # fmt: skip
        if return_mask and read.table is not None:
            return read.data, read.valid, read.table
        if return_mask:
            return read.data, read.valid
        if read.table is not None:
            return read.data, read.table
        return read.data

    @overload
    def get_time_series(
        self,
        geometry: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = ...,
        resolution: float | tuple[float, float] | None = ...,
        crs: int | str | None = ...,
        resampling: Resampling = ...,
        fill_value: float | None = ...,
        mask: bool = ...,
        merge: Merge = ...,
        dtype: DTypeLike | None = ...,
        max_memory: int | None = ...,
        return_mask: Literal[False] = ...,
        use_overviews: bool = ...,
        scale: bool = ...,
    ) -> tuple[np.ndarray, np.ndarray]: ...
    @overload
    def get_time_series(
        self,
        geometry: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = ...,
        resolution: float | tuple[float, float] | None = ...,
        crs: int | str | None = ...,
        resampling: Resampling = ...,
        fill_value: float | None = ...,
        mask: bool = ...,
        merge: Merge = ...,
        dtype: DTypeLike | None = ...,
        max_memory: int | None = ...,
        return_mask: Literal[True],
        use_overviews: bool = ...,
        scale: bool = ...,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    @overload
    def get_time_series(
        self,
        geometry: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = ...,
        resolution: float | tuple[float, float] | None = ...,
        crs: int | str | None = ...,
        resampling: Resampling = ...,
        fill_value: float | None = ...,
        mask: bool = ...,
        merge: Merge = ...,
        dtype: DTypeLike | None = ...,
        max_memory: int | None = ...,
        return_mask: bool = ...,
        use_overviews: bool = ...,
        scale: bool = ...,
    ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]: ...
    def get_time_series(
        self,
        geometry: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = None,
        resolution: float | tuple[float, float] | None = None,
        crs: int | str | None = None,
        resampling: Resampling = "nearest",
        fill_value: float | None = None,
        mask: bool = False,
        merge: Merge = "first",
        dtype: DTypeLike | None = None,
        max_memory: int | None = DEFAULT_MAX_MEMORY,
        return_mask: bool = False,
        use_overviews: bool = True,
        scale: bool = False,
    ) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All records over one geometry stacked in time: [T, C, H, W] and their dates.

        Records of the same UTC day (e.g. two tiles of one overpass) are merged into one
        time step with `merge`. The other arguments are `get_numpy`'s.

        Args:
            geometry: one geometry, in any form `get_numpy` takes.
            bands: band name(s).
            merge: how records of one day merge ("first" valid pixel by default).
            return_mask: also return the boolean valid-pixel mask.

        Returns:
            (array, dates), or (array, mask, dates) with `return_mask`; `dates` are
            numpy datetime64[D], ascending.

        Raises:
            ValueError: more than one geometry, or as `get_numpy`.
            KeyError, GeometryError, MemoryLimitError: as `get_numpy`.
        """
        from cogdex import pixels

        table, sources = self.read_inputs(bands)
        series = pixels.get_time_series(
            table, sources, geometry, geometry_crs=geometry_crs, resolution=resolution,
            crs=crs, resampling=resampling, fill_value=fill_value, mask=mask, merge=merge,
            dtype=dtype, max_memory=max_memory, use_overviews=use_overviews, scale=scale,
        )  # fmt: skip
        if return_mask:
            return series.data, series.valid, series.dates
        return series.data, series.dates

    def sample_points(
        self,
        points: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = None,
        x_column: str = "x",
        y_column: str = "y",
        id_column: str | None = None,
        max_files: int = 16,
        scale: bool = False,
        client: Any = None,
    ) -> pa.Table:
        """The value of every band at every point, in every record whose file covers it.

        Points in a record's nodata, sparse tiles or internal mask get its nodata value
        (else 0); points outside every record give no rows, and when none meets a record an
        `EmptyReadWarning` says so. See docs/pixels.md; with `client=`, docs/scale-out.md.

        Args:
            points: Shapely points, an (xs, ys) pair of arrays, GeoPandas, GeoJSON, or an
                Arrow table (or any Arrow stream) with x/y or geometry columns; or a Dask
                DataFrame of those columns (read on a cluster: `client` defaults to
                "active").
            bands: band name(s).
            geometry_crs: the CRS of points that carry none (default lon/lat).
            x_column, y_column: the coordinate columns of a points table.
            id_column: the column (of a table or GeoDataFrame) whose values are `point_id`.
            max_files: files fetched and decoded at a time by one read, which bounds its
                memory: the whole call locally; each task with `client=`, so a worker
                running T tasks at once (its threads) holds up to T x `max_files` files'
                tiles, as any Dask task's memory is per task (a cluster-wide bound would
                leave the cluster waiting on one machine's worth of files).
            scale: `value` as float32 `raw * scale + offset`, NaN at the record's nodata.
            client: read the tiles on a cluster: a `distributed.Client`, "active" (the
                current one) or a scheduler's address ("tcp://host:8786", connected for
                the call); needs `cogdex[dask]`. Each tile is fetched and decoded by one
                task; the result is the local call's.

        Returns:
            One row per (point, band, record): `point_id`, `id`, `datetime`, `band`,
            `value` (native type), `row`/`col` (pixel). `id` and `band` are
            dictionary-encoded (a few distinct strings over millions of rows: plain strings
            would cost ~40% more CPU and ~7x the memory of these columns); pandas and Polars
            read them as categories, DuckDB as strings, but pyarrow's `Table.sort_by` does
            not sort a dictionary column (apache/arrow#36772): sort by `point_id` and
            `datetime`, or cast `id`/`band` to `pa.string()` first.

        Raises:
            KeyError: an unknown band, or a missing x/y/id column.
            GeometryError: a `geometry_crs` contradicting the points' own.
            MissingPluginError: `client=` (or Dask points) without `cogdex[dask]`.
            ConnectionError: a scheduler address that cannot be reached.
        """
        from cogdex import pixels, plugins

        if client is None and hasattr(points, "__dask_graph__"):  # Dask's collection protocol
            client = "active"
        executor = None if client is None else plugins.point_executor(client)
        table, sources = self.read_inputs(bands)
        return pixels.sample_points(
            table, sources, points, geometry_crs=geometry_crs, x_column=x_column,
            y_column=y_column, id_column=id_column, max_files=max_files, scale=scale,
            executor=executor,
        )  # fmt: skip

    # -- adapters ----------------------------------------------------------------------------

    def to(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """This collection as the output `name` of an adapter plugin: `"torchgeo"` and
        `"xarray"` (the extras of those names), `"torchgeo_loader"` (a DataLoader of gridded
        chips, with the `torchgeo` extra) or any output an installed plugin registers
        (`cogdex plugins` lists them). `args` and `kwargs` go to the adapter after the
        collection; an output no plugin provides raises `MissingPluginError`."""
        from cogdex import plugins

        adapter = plugins.adapter(name)
        if adapter is None:
            raise MissingPluginError(
                f"output {name!r}",
                _OUTPUT_EXTRAS.get(name),
                installed=plugins.adapter_names(),
            )
        return adapter.function(self, *args, **kwargs)

    def to_torchgeo_dataset(
        self,
        bands: str | Sequence[str],
        *,
        chip_size: int | tuple[int, int] | None = None,
        crs: int | str | None = None,
        res: float | tuple[float, float] | None = None,
        time_series: bool = False,
        label_field: str | None = None,
        is_image: bool = True,
        dtype: Any = None,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        resampling: Resampling | None = None,
        merge: Merge = "first",
        fill_value: float | None = None,
        on_error: Literal["raise", "fill"] = "raise",
    ) -> GeoDataset:
        """`to("torchgeo", ...)`: a TorchGeo `GeoDataset` of `bands` over this collection,
        for TorchGeo's samplers and DataLoader (docs/torchgeo.md).

        Args:
            bands: Band names; a sample's `image` stacks them in this order.
            chip_size: Pixels of the chip a query with no extent gets.
            crs: The dataset's CRS (default: the first record's).
            res: Its resolution in CRS units (default: the first record's).
            time_series: Samples are [T, C, H, W], one step per record (else merged).
            label_field: A column whose value per record becomes the sample's `label`.
            is_image: `image` (float/int bands) rather than `mask` (a label raster).
            dtype: The torch dtype of the tensors (default: the bands' native type).
            transforms: Called on every sample.
            resampling: "nearest" or "bilinear" for records on other grids.
            merge: How records overlapping a chip merge ("first", "last", "min", ...).
            fill_value: Pixels no record covers (default: nodata, else 0).
            on_error: "raise" a failed read, or "fill" its chip and report it.

        Returns:
            A `cogdex_torchgeo.CogdexGeoDataset`.

        Raises:
            MissingPluginError: `cogdex[torchgeo]` is not installed.
            KeyError: A band the collection does not have.
        """
        return self.to(
            "torchgeo", bands, chip_size=chip_size, crs=crs, res=res, time_series=time_series,
            label_field=label_field, is_image=is_image, dtype=dtype, transforms=transforms,
            resampling=resampling, merge=merge, fill_value=fill_value, on_error=on_error,
        )  # fmt: skip

    def get_xarray(
        self,
        geometries: Any,
        bands: str | Sequence[str],
        *,
        geometry_crs: int | str | None = None,
        resolution: float | tuple[float, float] | None = None,
        crs: int | str | None = None,
        chunks: Mapping[str, int] | None = None,
        resampling: Resampling = "nearest",
        fill_value: float | None = None,
        merge: Merge | None = None,
        dtype: DTypeLike | None = None,
        use_overviews: bool = True,
        max_memory: int | None = DEFAULT_MAX_MEMORY,
        scale: bool = False,
    ) -> xr.Dataset:
        """`to("xarray", ...)`: `bands` over `geometries` as an xarray Dataset, eager or
        Dask-backed (docs/xarray.md); grids and merges as `get_numpy`'s.

        Args:
            geometries: What `get_numpy` takes (one geometry, or several: a `geometry` dim).
            bands: Band names, one data variable each.
            geometry_crs, resolution, crs, resampling, fill_value, merge, dtype,
                use_overviews, max_memory, scale: As in `get_numpy`.
            chunks: None reads now; a dict over `time`, `y`, `x`, `geometry` (-1: one
                chunk) gives a lazy Dataset read by cogdex's reader on compute.

        Returns:
            An `xarray.Dataset` with CF attributes and a `spatial_ref` grid mapping.

        Raises:
            MissingPluginError: `cogdex[xarray]` is not installed.
            MemoryLimitError: An eager read whose estimated peak exceeds `max_memory`.
        """
        return self.to(
            "xarray", geometries, bands, geometry_crs=geometry_crs, resolution=resolution,
            crs=crs, chunks=chunks, resampling=resampling, fill_value=fill_value, merge=merge,
            dtype=dtype, use_overviews=use_overviews, max_memory=max_memory, scale=scale,
        )  # fmt: skip


# Outputs that cogdex's extras install, and the extra each: what a missing one names to install.
_OUTPUT_EXTRAS = {"torchgeo": "torchgeo", "torchgeo_loader": "torchgeo", "xarray": "xarray"}


def _position(source: BandSource, record: int | str, band: str) -> int:
    """Where `record` (row number or id) is in `source`."""
    if isinstance(record, str):
        try:
            return source.ids.index(record)
        except ValueError:
            raise KeyError(f"record {record!r} has no readable {band!r} file") from None
    matches = np.flatnonzero(source.rows == record)
    if not len(matches):
        raise KeyError(f"record {record} has no readable {band!r} file")
    return int(matches[0])


def _without_assets(files: IndexFiles | None, expression: pc.Expression) -> bool:
    """Whether `expression` reads only columns an unloaded index keeps apart from the
    headers (Arrow rejects it on a table without the columns it names)."""
    if files is None:
        return False
    try:
        A.empty_table(files.schema).drop_columns(["assets"]).filter(expression)
    except (pa.ArrowException, TypeError):
        return False
    return True


SLICED_RUNS = 1024
"""Up to this many runs of kept rows, `_without` slices (no copy) rather than filters."""


def _options(coll: Collection) -> dict[str, Any]:
    """The store options a collection's reads use (`store_options`, without importing the
    stores)."""
    return {**coll._meta.store_options, **coll._read_options}


def _other_options(mine: Collection, other: Any, incoming: Collection) -> bool:
    """Whether `extend`'s `other` reads with store options other than `mine`'s: a
    Collection's own, or those a table's `cogdex` metadata holds (secrets are never
    written there, so the public ones are compared)."""
    if isinstance(other, Collection):
        return _options(mine) != _options(other)
    if not incoming._meta.store_options:
        return False
    from cogdex.io.stores import public_options

    return public_options(_options(mine)) != dict(incoming._meta.store_options)


def _options_kept(
    mine: Collection, my_rows: pa.Table, other: Collection, their_rows: pa.Table
) -> Collection:
    """Which of two collections with different store options lends them to `extend`'s
    result: the one whose records are not all local files (those take no options), else
    a `StoreError`: one set of options would send one side's reads to the wrong store."""
    if _all_local(their_rows):
        return mine
    if _all_local(my_rows):
        return other
    from cogdex.errors import StoreError

    raise StoreError(
        f"cannot extend {mine.name!r} by {other.name!r}: they read with different store "
        f"options ({mine.store_options!r} vs {other.store_options!r}) and a collection "
        "reads every record with one set; load or build both with the same "
        "store_options=, or read them as two collections"
    )


def _all_local(table: pa.Table) -> bool:
    """Whether every href of `table`'s assets is a local path or `file://` URL."""
    from cogdex.io.urls import is_local

    assets = A.contiguous(table.column("assets"))
    for k in range(assets.type.num_fields):
        for href in set(assets.field(k).field("href").to_pylist()) - {None}:
            if not is_local(href):
                return False
    return True


def _without(table: pa.Table, dropped: np.ndarray) -> pa.Table:
    """`table` less the `dropped` rows: slices of it where they are few (an extend that
    replaces some records), so a large collection is not copied to grow it."""
    if not dropped.any():
        return table
    kept = np.flatnonzero(~dropped)
    if not len(kept):
        return table.slice(0, 0)
    starts = np.flatnonzero(np.diff(kept, prepend=-2) != 1)
    if len(starts) > SLICED_RUNS:
        return A.take(table, kept)
    ends = np.append(starts[1:], len(kept))
    runs = [table.slice(int(kept[a]), int(b - a)) for a, b in zip(starts, ends, strict=True)]
    return pa.concat_tables(runs)


def _json(doc: Any) -> bytes:
    import json

    return json.dumps(doc).encode()


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, Collection):
        return data.to_arrow()
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    if hasattr(data, "__arrow_c_stream__"):  # not `pa.table`, which imports pandas
        return pa.RecordBatchReader.from_stream(data).read_all()
    if hasattr(data, "to_arrow"):  # DuckDB relations, Polars frames
        result = data.to_arrow()
        return result.read_all() if isinstance(result, pa.RecordBatchReader) else result
    raise TypeError(f"cannot read an Arrow table from {type(data).__name__}")


def as_collection(
    data: Any,
    name: str | None = None,
    *,
    bands: Mapping[str, str | tuple[str, int] | S.BandRef] | None = None,
) -> Collection:
    """A Collection from an Arrow table, e.g. an index reshaped elsewhere.

    Args:
        data: A `pyarrow.Table` or `RecordBatchReader`, a `Collection`, or an object that
            exports an Arrow stream (`__arrow_c_stream__`) or has `to_arrow()` (DuckDB
            relations, Polars frames).
        name: The collection's name; default: the table's, else `"collection"`.
        bands: name -> asset key, (asset key, band_index) or `BandRef`
            (`collection.band_map` of the original). Default: the table's `cogdex`
            metadata (DuckDB and Polars drop it), else one band per asset key.

    Returns:
        The collection, in memory.

    Raises:
        TypeError: `data` is none of the objects above.
        IndexSchemaError: The table lacks columns or fields an index needs (the message
            lists exactly which), repeats a record id, or its `cogdex` metadata cannot be
            read.
    """
    table = _as_table(data)
    raw = (table.schema.metadata or {}).get(S.METADATA_KEY)
    meta = S.IndexMetadata.from_json(raw, "the table") if raw else None
    if bands is not None:
        refs = {
            k: v
            if isinstance(v, S.BandRef)
            else S.BandRef(v, 0)
            if isinstance(v, str)
            else S.BandRef(v[0], int(v[1]))
            for k, v in bands.items()
        }
    elif meta is not None:
        refs = dict(meta.bands)
    elif "assets" in table.column_names and pa.types.is_struct(table.schema.field("assets").type):
        refs = {k: S.BandRef(k, 0) for k in table.schema.field("assets").type.names}
    else:
        refs = {}
    S.validate(table.schema, refs, "the table")
    _check_unique_ids(table)
    if meta is None:
        meta = S.IndexMetadata(name=name or "collection", bands=refs, source={"table": "arrow"})
    else:
        meta = replace(meta, name=name or meta.name, bands=refs)
    names = [c for c in table.column_names if c != "assets"] + ["assets"]
    table = S.conform(table.select(names).replace_schema_metadata(None))
    return Collection(table, meta)


def _check_unique_ids(table: pa.Table) -> None:
    """Refuse repeated record ids, as a build does: a record is looked up by its id
    (`header`, `extend`), so a repeat would silently stand for the first of them."""
    import pyarrow.compute as pc

    ids = table.column("id")
    if pc.count_distinct(ids).as_py() == len(ids):
        return
    counts = pc.value_counts(ids)
    repeated = [
        v.as_py() for v, n in zip(counts.field("values"), counts.field("counts"), strict=True)
        if n.as_py() > 1
    ]  # fmt: skip
    raise IndexSchemaError(
        f"the table repeats record ids ({', '.join(map(repr, repeated[:3]))}"
        f"{', ...' if len(repeated) > 3 else ''}): every record needs its own id"
    )


def load(
    location: str | os.PathLike[str],
    *,
    store_options: Mapping[str, Any] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Collection:
    """Open an index written by a build or `export`.

    Only the footers are read here; filters prune row groups before any row is read. An
    index at an object-store URL is first copied into the cache (once per version).

    Args:
        location: A local index file or folder, or an object-store URL.
        store_options: How the index and its files are reached (endpoint, region,
            credentials source, ...); reads of the collection use them too.
        cache_dir: The cache folder for copies of remote indexes (default:
            `$COGDEX_CACHE_DIR`, else the per-user cache).

    Returns:
        The collection, lazy: its rows are read on first use.

    Raises:
        IndexSchemaError: No index at `location`, or files there that are not a cogdex
            index.
        StoreError: A URL that cannot be read with these store options
            (`MissingCredentialsError` where credentials are needed and none are found).
        MissingPluginError: Store options that need a cloud plugin that is not installed.
        IndexWriteError: A remote index could not be copied into the cache folder.
    """
    from cogdex.cachedir import cache_root
    from cogdex.index.store import open_index

    files = open_index(
        location, store_options=store_options, download_dir=cache_root(cache_dir) / "remote"
    )
    return from_files(files, store_options)


def from_files(files: IndexFiles, store_options: Mapping[str, Any] | None = None) -> Collection:
    """The collection of an opened index (`load` once its footers are read)."""
    return Collection(
        None, files.meta, files=files, location=files.location, read_options=store_options
    )


__all__ = [
    "Collection",
    "as_collection",
    "from_files",
    "load",
]
