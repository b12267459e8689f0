"""`GeoTIFF`, `open`, `open_async`: the user-facing view of one GeoTIFF.

A `GeoTIFF` is a URL plus its parsed `TIFFHeader`; reading goes through the data plane's
window reader (`cogdex.read.reader`): only the tiles a window needs, one coalesced request,
decoded on the decode pool, kept in the shared tile cache. It can be built from a stored
header with no request at all (`from_header`), and it pickles as its URL, store options and
header. It belongs to the read layer, above the parser (`cogdex.tiff`) whose header it
holds and beside the reader it reads through.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from cogdex.io import fetch, runtime
from cogdex.io.urls import ObjectURL
from cogdex.read.reader import Source, WindowRead, read_windows
from cogdex.read.window import Window
from cogdex.redact import safe_url
from cogdex.tiff import geokeys
from cogdex.tiff.header import read_header
from cogdex.tiff.model import Level, TIFFHeader

if TYPE_CHECKING:
    import pyproj

_IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


class GeoTIFF:
    """One GeoTIFF: its metadata as GDAL reports it, and window reads of any level.

    Bands are 0-based. `overview=None` reads full resolution, `overview=i` the i-th
    reduced-resolution level (0 = largest overview, GDAL's `overview_level`).
    """

    def __init__(self, url: str | os.PathLike[str] | ObjectURL, header: TIFFHeader, **options: Any):
        self.url = url.url if isinstance(url, ObjectURL) else os.fspath(url)
        self.header = header
        self.options = options

    @classmethod
    def from_header(
        cls, header: TIFFHeader | Mapping[str, Any], url: str | os.PathLike[str], **options: Any
    ) -> GeoTIFF:
        """A GeoTIFF from a stored header (a `TIFFHeader` or its `to_dict()`): no request."""
        if not isinstance(header, TIFFHeader):
            header = TIFFHeader.from_dict(dict(header))
        return cls(url, header, **options)

    def __repr__(self) -> str:
        return (
            f"<GeoTIFF {safe_url(self.url)} {self.width}x{self.height}x{self.count} {self.dtype} "
            f"{self.compression}>"
        )

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "header": self.header, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], state["header"], **state["options"])  # type: ignore[misc]

    # -- metadata ------------------------------------------------------------------------

    @property
    def width(self) -> int:
        return self.header.base.width

    @property
    def height(self) -> int:
        return self.header.base.height

    @property
    def count(self) -> int:
        return self.header.base.samples_per_pixel

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.header.base.dtype)

    @functools.cached_property
    def crs(self) -> pyproj.CRS | None:
        """The CRS of the geotransform (None without one, or when only GCPs locate it)."""
        crs = self._dataset_crs
        if crs is None:
            return None
        import pyproj

        return pyproj.CRS.from_epsg(crs) if isinstance(crs, int) else pyproj.CRS(crs)

    @functools.cached_property
    def epsg(self) -> int | None:
        """The EPSG code GDAL reports: the file's, or the one a user-defined CRS is
        equivalent to (`crs` keeps the file's own definition)."""
        return geokeys.epsg_code(self._dataset_crs)

    @property
    def _dataset_crs(self) -> int | str | None:
        """The header's CRS, or None when only GCPs locate the pixels (GDAL gives the CRS
        with the GCPs then, not as the dataset's)."""
        georef = self.header.georef
        return None if georef.transform is None and georef.gcps else georef.crs

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """Affine (a, b, c, d, e, f); the identity when the file has no geotransform."""
        return self.header.georef.transform or _IDENTITY

    @property
    def gcps(self) -> tuple[tuple[float, float, float, float, float], ...]:
        """(col, row, x, y, z) ground control points (files without a geotransform)."""
        return self.header.georef.gcps

    @property
    def nodata(self) -> float | None:
        return self.header.nodata

    @property
    def tile_shape(self) -> tuple[int, int]:
        """(rows, cols) of a tile, or of a strip (GDAL's block shape)."""
        return self.header.base.tile_height, self.header.base.tile_width

    @property
    def compression(self) -> str:
        """GDAL's name for the compression ("DEFLATE", "LZW", "YCbCr JPEG", ...)."""
        return self.header.base.compression_name

    @property
    def predictor(self) -> int:
        return self.header.base.predictor

    @property
    def planar(self) -> int:
        """TIFF PlanarConfiguration: 1 = samples interleaved by pixel, 2 = band planes."""
        return self.header.base.planar

    @property
    def overviews(self) -> list[tuple[int, int]]:
        """(width, height) of each overview, largest first."""
        return [(lv.width, lv.height) for lv in self.header.levels[1:]]

    @property
    def has_mask(self) -> bool:
        """Whether the file has an internal (per-dataset) mask."""
        return self.header.base.mask is not None

    @property
    def band_descriptions(self) -> tuple[str | None, ...]:
        return self.header.descriptions or (None,) * self.count

    @property
    def scale_offset(self) -> tuple[tuple[float, float], ...]:
        """(scale, offset) per band; (1.0, 0.0) where GDAL_METADATA gives none."""
        h = self.header
        return tuple(
            (1.0 if s is None else s, 0.0 if o is None else o)
            for s, o in zip(
                h.scales or (None,) * self.count, h.offsets or (None,) * self.count, strict=True
            )
        )

    # -- reading -------------------------------------------------------------------------

    def read(
        self,
        window: Window | tuple[int, int, int, int] | None = None,
        bands: Sequence[int] | None = None,
        overview: int | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """Pixels of a window of one level, decoded from the tiles it needs (fetched with
        coalesced range requests).

        Args:
            window: A `Window` or a plain (col_off, row_off, width, height) tuple,
                rasterio's order; default the whole level. It may hang off the image: the
                part outside holds the fill value (nodata, else 0).
            bands: 0-based sample indices (default: all).
            overview: 0-based overview level (default: full resolution).
            out: An array of the result's shape and dtype to decode into.

        Returns:
            A (bands, height, width) array of the file's data type.

        Raises:
            FetchError: The tiles could not be read (after retries), naming URL and range.
            DecodeError: A tile that its codec cannot decode.
            UnsupportedTIFF: A layout or codec cogdex does not read.
        """
        return fetch.run_read(self.read_async(window, bands, overview, out))

    async def read_async(
        self,
        window: Window | tuple[int, int, int, int] | None = None,
        bands: Sequence[int] | None = None,
        overview: int | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """`read`, awaitable."""
        level = self._level(overview)
        read = WindowRead(
            self._source,
            _window(window, level),
            tuple(self._bands(bands)),
            self.header.levels.index(level),
            out=out,
        )
        return (await read_windows([read]))[0]

    def read_mask(
        self, window: Window | tuple[int, int, int, int] | None = None, overview: int | None = None
    ) -> np.ndarray:
        """The internal mask of `window` as GDAL returns it: uint8, 255 valid, 0 not."""
        return fetch.run_read(self.read_mask_async(window, overview))

    async def read_mask_async(
        self, window: Window | tuple[int, int, int, int] | None = None, overview: int | None = None
    ) -> np.ndarray:
        """`read_mask`, awaitable."""
        level = self._level(overview)
        if level.mask is None:
            raise ValueError(f"{safe_url(self.url)} has no internal mask at this level")
        read = WindowRead(
            self._source, _window(window, level), (0,), self.header.levels.index(level), mask=True
        )
        array = (await read_windows([read]))[0]
        if level.mask.bits_per_sample == 1:
            np.multiply(array, 255, out=array)
        return array[0]

    @functools.cached_property
    def _source(self) -> Source:
        return Source(self.url, self.header, self.options)

    def _level(self, overview: int | None) -> Level:
        if overview is None:
            return self.header.base
        if not 0 <= overview < len(self.header.levels) - 1:
            raise ValueError(
                f"overview {overview} out of range: {safe_url(self.url)} has "
                f"{len(self.header.levels) - 1} overviews"
            )
        return self.header.levels[overview + 1]

    def _bands(self, bands: Sequence[int] | None) -> list[int]:
        if bands is None:
            return list(range(self.count))
        band_list = [int(b) for b in bands]
        bad = [b for b in band_list if not 0 <= b < self.count]
        if bad:
            raise ValueError(
                f"bands {bad} out of range 0..{self.count - 1} for {safe_url(self.url)}"
            )
        return band_list


def _window(window: Window | tuple[int, int, int, int] | None, level: Level) -> Window:
    if window is None:
        return Window(0, 0, level.width, level.height)
    col, row, width, height = (int(v) for v in window)
    if width < 0 or height < 0:
        raise ValueError(f"window {window} has a negative size")
    return Window(col, row, width, height)


async def open_async(url: str | os.PathLike[str] | ObjectURL, **options: Any) -> GeoTIFF:
    """`open`, awaitable: the same arguments, result and errors."""
    return GeoTIFF(url, await read_header(url, options=options), **options)


def open(url: str | os.PathLike[str] | ObjectURL, **options: Any) -> GeoTIFF:
    """Open the GeoTIFF at `url`: its header is read (one request for a typical COG), no
    pixels.

    Args:
        url: A local path or file URL, an http(s), s3, gs or Azure (az, abfs, ...) URL,
            or one already parsed (`ObjectURL`).
        **options: Store options for `url`'s store (endpoint, region, credentials,
            `request_payer`, ...), as obstore and the cloud plugins take them.

    Returns:
        The file's metadata as GDAL reports it; its `read` fetches pixels.

    Raises:
        MalformedTIFF: Bytes that break the TIFF structure (`TruncatedTIFF`: a file that
            ends before a structure it declares).
        UnsupportedTIFF: A TIFF feature cogdex does not read.
        NotFoundError: No object at `url`.
        AccessDeniedError: The store refused the request.
        FetchError: Another read failure, after every retry (`DeadlineExceededError`: past
            the fetch deadline).
        StoreError: A URL no store serves, or options that do not fit it
            (`MissingCredentialsError`: a store that needs credentials, and none found).
        MissingPluginError: Options that need a cloud plugin that is not installed.
    """
    return runtime.run(open_async(url, **options))


__all__ = [
    "GeoTIFF",
    "open",
    "open_async",
]
