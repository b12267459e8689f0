"""Fetch-and-grow: the fewest range requests that cover every IFD, then the header model.

One request fetches a prefix of the file (and tells its size). The parser walks the IFD
chain and reads the tag values it needs as far as the known bytes allow, and reports every
range still missing at once: IFDs beyond the prefix and out-of-line tag arrays of all
pending IFDs. Those ranges, coalesced, go out as one request; repeat until nothing is
missing. A COG as GDAL writes it (all IFDs and tile indexes at the front) is covered by the
prefix: one request in all.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from cogdex.errors import MalformedTIFF, TruncatedTIFF, UnsupportedTIFF
from cogdex.io import fetch
from cogdex.io.urls import ObjectURL
from cogdex.tiff import codecs, geokeys
from cogdex.tiff import tags as T
from cogdex.tiff.ifd import (
    IFD,
    ByteView,
    Entry,
    Layout,
    Missing,
    first_integer,
    integers,
    raw,
    read_ifd,
    read_layout,
    small_integers,
    text,
    values,
)
from cogdex.tiff.metadata import band_nodata, parse_gdal_metadata
from cogdex.tiff.model import Georeference, Level, TIFFHeader

PREFIX = 64 * 1024
"""Bytes of the first request: a GDAL COG's header and tile index fit in it up to ~4k tiles."""
IFD_READ = 16 * 1024
"""Bytes fetched at an IFD beyond the known bytes (its size is unknown until read)."""
COALESCE_GAP = 16 * 1024
"""Missing ranges closer than this are fetched as one range."""
MAX_IFDS = 1 << 16
MAX_SAMPLES = 65535
"""SamplesPerPixel is a SHORT: libtiff reads no more, and GDAL opens no more bands."""
MAX_DIMENSION = 2**32 - 1
"""Image and block sizes are LONGs in classic TIFF and in libtiff (BigTIFF allows LONG8)."""
MAX_BLOCK_BYTES = 2**31 - 1
"""GDAL's limit on one decoded block (a C int): a tile or strip that decodes to more is
refused before any buffer is sized from it."""
STRIP_CHOP_BYTES = 8192
"""libtiff's STRIP_SIZE_DEFAULT: the size it chops single uncompressed strips into."""

_WANTED = T.IMAGE_TAGS | T.GEO_TAGS


class HeaderParser:
    """Parses one file's header from the byte spans fed to it so far."""

    def __init__(self, source: str, size: int):
        self.view = ByteView(source, size)
        self._layout: Layout | None = None
        self._ifds: list[IFD] = []
        self._next: int = 0
        self._seen: set[int] = set()
        self._pending: list[int] = []  # IFDs whose tag arrays were not all known yet

    def feed(self, start: int, data: bytes | memoryview) -> None:
        self.view.add(start, data)

    def missing(self) -> list[tuple[int, int]]:
        """Parse as far as possible; the (start, end) ranges still needed, coalesced."""
        view = self.view
        if self._layout is None:
            try:
                self._layout = read_layout(view)
            except Missing as m:
                return [(0, min(view.size, max(m.end, 16)))]
            self._next = self._layout.first_ifd
        layout = self._layout
        needs: list[tuple[int, int]] = []
        while self._next:
            offset = self._next
            if offset in self._seen:
                raise MalformedTIFF("IFD chain loops", source=view.source, offset=offset)
            if len(self._ifds) >= MAX_IFDS:
                raise UnsupportedTIFF(
                    f"more than {MAX_IFDS} IFDs", source=view.source, offset=offset
                )
            try:
                ifd = read_ifd(view, layout, offset, _WANTED)
            except Missing as m:
                needs.append((m.start, min(view.size, max(m.end, m.start + IFD_READ))))
                break
            self._seen.add(offset)
            self._pending.append(len(self._ifds))
            self._ifds.append(ifd)
            self._next = ifd.next_offset
        # Only IFDs still missing arrays are walked again: a chain of IFDs far apart takes
        # a round per IFD, and walking them all every round would be quadratic.
        pending: list[int] = []
        for index in self._pending:
            ifd = self._ifds[index]
            if index and not _may_be_level(view, layout, ifd):
                continue
            before = len(needs)
            for entry in ifd.entries.values():
                if entry.inline is not None or (index and entry.tag in T.GEO_TAGS):
                    continue
                nbytes = entry.nbytes
                if not view.has(entry.pos, nbytes):
                    needs.append((entry.pos, entry.pos + nbytes))
            if len(needs) > before:
                pending.append(index)
        self._pending = pending
        return _coalesce(needs)

    def header(self) -> TIFFHeader:
        """The header model; call once `missing()` returns nothing."""
        if self._layout is None or not self._ifds:
            raise MalformedTIFF("no IFD parsed", source=self.view.source, offset=0)
        return _build(self.view, self._layout, self._ifds)


def _coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1] + COALESCE_GAP:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _may_be_level(view: ByteView, layout: Layout, ifd: IFD) -> bool:
    """Whether an IFD after the first is an overview or a mask (pages are skipped)."""
    entry = ifd.entries.get(T.NEW_SUBFILE_TYPE)
    if entry is None:
        return False
    try:
        subfile = first_integer(view, layout, entry, "NewSubfileType")
    except Missing:
        return True
    except MalformedTIFF:
        return False
    return bool(subfile & (T.SUBFILE_REDUCED | T.SUBFILE_MASK))


async def read_header(
    url: str | os.PathLike[str] | ObjectURL,
    *,
    options: Mapping[str, Any] | None = None,
    prefix: int = PREFIX,
) -> TIFFHeader:
    """Fetch and parse the header of the TIFF at `url` (one request for a typical COG),
    with the version of the object it was read from (its ETag and Last-Modified, which that
    request's answer carries), which every later read of its tiles must find."""
    source = url.url if isinstance(url, ObjectURL) else os.fspath(url)
    head, version = await fetch.read_head(url, prefix, options=options)
    parser = HeaderParser(source, version.size)
    parser.feed(0, head)
    while needs := parser.missing():
        parts = await fetch.read_ranges(url, needs, options=options, version=version)
        for (start, end), data in zip(needs, parts, strict=True):
            if len(data) != end - start:
                raise TruncatedTIFF(
                    f"store returned {len(data)} of {end - start} bytes",
                    source=source,
                    offset=start,
                )
            parser.feed(start, data)
    return replace(parser.header(), etag=version.etag, last_modified=version.last_modified)


def parse_header(data: bytes, *, size: int | None = None, source: str = "<bytes>") -> TIFFHeader:
    """Parse a header from bytes in memory: the whole file, or a prefix of a file of `size`
    bytes that holds every IFD and tag array (else `TruncatedTIFF`)."""
    parser = HeaderParser(source, len(data) if size is None else size)
    parser.feed(0, data)
    needs = parser.missing()
    if needs:
        raise TruncatedTIFF(
            f"the header needs bytes {needs[0][0]}-{needs[0][1]} beyond the {len(data)} given",
            source=source,
            offset=needs[0][0],
        )
    return parser.header()


# ------------------------------------------------------------------------ model build


class _Tags:
    """Typed access to one IFD's entries, with errors that name the tag and the file."""

    def __init__(self, view: ByteView, layout: Layout, ifd: IFD):
        self.view = view
        self.layout = layout
        self.ifd = ifd

    def entry(self, tag: int) -> Entry | None:
        return self.ifd.entries.get(tag)

    def ints(self, tag: int, name: str) -> np.ndarray | None:
        entry = self.entry(tag)
        if entry is None:
            return None
        if entry.n_values == 0:
            raise MalformedTIFF(f"{name} has no values", source=self.view.source, offset=entry.pos)
        return integers(self.view, self.layout, entry, name)

    def scalar(self, tag: int, name: str, default: int | None = None) -> int:
        entry = self.entry(tag)
        if entry is None:
            if default is None:
                raise MalformedTIFF(
                    f"{name} is missing", source=self.view.source, offset=self.ifd.offset
                )
            return default
        if entry.n_values != 1:
            raise MalformedTIFF(
                f"incorrect count {entry.n_values} for {name}",
                source=self.view.source,
                offset=entry.pos,
            )
        return first_integer(self.view, self.layout, entry, name)

    def small(self, tag: int, name: str) -> tuple[int, ...] | None:
        entry = self.entry(tag)
        if entry is None:
            return None
        if entry.n_values == 0:
            raise MalformedTIFF(f"{name} has no values", source=self.view.source, offset=entry.pos)
        return small_integers(self.view, self.layout, entry, name)

    def floats(self, tag: int) -> np.ndarray | None:
        entry = self.entry(tag)
        if entry is None or entry.type == T.ASCII or entry.n_values == 0:
            return None
        return values(self.view, self.layout, entry).astype(np.float64)

    def text(self, tag: int) -> str | None:
        entry = self.entry(tag)
        return None if entry is None else text(self.view, entry)


def _level(view: ByteView, layout: Layout, ifd: IFD) -> Level:
    tags = _Tags(view, layout, ifd)
    src = view.source

    def bad(message: str) -> MalformedTIFF:
        return MalformedTIFF(message, source=src, offset=ifd.offset)

    width = tags.scalar(T.IMAGE_WIDTH, "ImageWidth")
    height = tags.scalar(T.IMAGE_LENGTH, "ImageLength")
    if not (0 < width <= MAX_DIMENSION and 0 < height <= MAX_DIMENSION):
        raise bad(f"image size {width}x{height}")
    spp = tags.scalar(T.SAMPLES_PER_PIXEL, "SamplesPerPixel", 1)
    if not 0 < spp <= min(MAX_SAMPLES, view.size):
        # A band costs at least a byte: writers store a BitsPerSample value per sample,
        # and planar files a tile offset per band. Later sizes are bounded by this one.
        raise bad(f"SamplesPerPixel {spp} in a {view.size}-byte file")
    bits_values = tags.small(T.BITS_PER_SAMPLE, "BitsPerSample") or (1,)
    bits = bits_values[0]
    if len(set(bits_values)) > 1:
        raise UnsupportedTIFF(
            f"different BitsPerSample per sample {bits_values[:8]}", source=src, offset=ifd.offset
        )
    format_values = tags.small(T.SAMPLE_FORMAT, "SampleFormat") or (T.SAMPLE_UINT,)
    sample_format = format_values[0]
    if len(set(format_values)) > 1:
        raise UnsupportedTIFF("different SampleFormat per sample", source=src, offset=ifd.offset)
    dtype = codecs.sample_dtype(sample_format, bits)
    if dtype is None:
        raise UnsupportedTIFF(
            f"{bits}-bit samples of SampleFormat {sample_format}", source=src, offset=ifd.offset
        )
    planar = tags.scalar(T.PLANAR_CONFIG, "PlanarConfiguration", 1)
    if planar not in (1, 2):
        raise bad(f"PlanarConfiguration {planar}")
    compression = tags.scalar(T.COMPRESSION, "Compression", T.NONE)
    photometric = tags.scalar(
        T.PHOTOMETRIC,
        "PhotometricInterpretation",
        T.PHOTOMETRIC_RGB if spp >= 3 else T.PHOTOMETRIC_MINISBLACK,
    )
    if photometric == T.PHOTOMETRIC_SEPARATED:
        if tags.scalar(T.INK_SET, "InkSet", T.INK_SET_CMYK) != T.INK_SET_CMYK:
            photometric = T.PHOTOMETRIC_MINISBLACK  # other inks: GDAL reads plain bands
        elif codecs.cmyk_as_rgba(photometric, bits, spp):
            dtype = "uint8"  # read as RGBA, signed samples too
    tiled = tags.entry(T.TILE_WIDTH) is not None or tags.entry(T.TILE_OFFSETS) is not None
    if tiled:
        tile_width = tags.scalar(T.TILE_WIDTH, "TileWidth")
        tile_height = tags.scalar(T.TILE_LENGTH, "TileLength")
        offsets = tags.ints(T.TILE_OFFSETS, "TileOffsets")
        counts = tags.ints(T.TILE_BYTE_COUNTS, "TileByteCounts")
    else:
        tile_width = width
        rows = tags.scalar(T.ROWS_PER_STRIP, "RowsPerStrip", height)
        tile_height = min(rows, height)
        offsets = tags.ints(T.STRIP_OFFSETS, "StripOffsets")
        counts = tags.ints(T.STRIP_BYTE_COUNTS, "StripByteCounts")
    if not (0 < tile_width <= MAX_DIMENSION and 0 < tile_height <= MAX_DIMENSION):
        raise bad(f"block size {tile_width}x{tile_height}")
    planes = spp if planar == 2 else 1
    tiles = planes * -(-height // tile_height) * -(-width // tile_width)
    if offsets is None:
        raise bad("no tile or strip offsets")
    if counts is None:
        raise bad("no tile or strip byte counts")
    if offsets.size < tiles or counts.size < tiles:
        raise bad(f"{min(offsets.size, counts.size)} tile offsets/byte counts for {tiles} tiles")
    if offsets.dtype.kind == "i" and np.any(offsets[:tiles] < 0):
        raise bad("negative tile offset")
    if counts.dtype.kind == "i" and np.any(counts[:tiles] < 0):
        raise bad("negative tile byte count")
    if not tiled and planar == 1 and compression == T.NONE and tiles == 1:
        tile_height, offsets, counts = _chop_strip(
            width * spp * bits, height, tile_height, int(offsets[0]), int(counts[0]), view.size
        )
        tiles = offsets.size
    block_bytes = (tile_width * (spp // planes) * bits + 7) // 8 * tile_height
    if block_bytes > MAX_BLOCK_BYTES:
        raise UnsupportedTIFF(
            f"{tile_width}x{tile_height} blocks of {spp // planes} {bits}-bit samples: "
            f"{block_bytes} bytes each, more than GDAL's {MAX_BLOCK_BYTES}",
            source=src,
            offset=ifd.offset,
        )
    extra = tags.small(T.EXTRA_SAMPLES, "ExtraSamples") or ()
    ycbcr = tags.small(T.YCBCR_SUBSAMPLING, "YCbCrSubsampling") or (2, 2)
    lerc = tags.small(T.LERC_PARAMETERS, "LercParameters") or ()
    tables_entry = tags.entry(T.JPEG_TABLES)
    predictor = tags.scalar(T.PREDICTOR, "Predictor", T.PREDICTOR_NONE)
    level = Level(
        width=width,
        height=height,
        tile_width=tile_width,
        tile_height=tile_height,
        tiled=tiled,
        tile_offsets=offsets[:tiles].astype(np.uint64),
        tile_byte_counts=counts[:tiles].astype(np.uint64),
        compression=compression,
        predictor=predictor,
        bits_per_sample=bits,
        sample_format=sample_format,
        samples_per_pixel=spp,
        planar=planar,
        photometric=photometric,
        dtype=dtype,
        subfile_type=tags.scalar(T.NEW_SUBFILE_TYPE, "NewSubfileType", 0),
        jpeg_tables=raw(view, tables_entry) if tables_entry is not None else None,
        ycbcr_subsampling=(ycbcr[0], ycbcr[1]) if len(ycbcr) >= 2 else (2, 2),
        extra_samples=extra,
        lerc_parameters=lerc,
        fill_order=tags.scalar(T.FILL_ORDER, "FillOrder", 1),
        ifd_offset=ifd.offset,
    )
    codecs.check(level, src)
    return level


def _chop_strip(
    row_bits: int, height: int, rows: int, offset: int, count: int, size: int
) -> tuple[int, np.ndarray, np.ndarray]:
    """libtiff's split of one uncompressed strip into strips of about 8 KiB, which GDAL
    reports as the block size (and which lets small windows read only the rows they need).

    Not done when the strip starts past the end of the file, or the file could not hold
    that many strips' worth of pixels (a lying header must not make cogdex allocate arrays
    larger than the file). A byte count past the last strip is cut there: it changes no
    strip, and keeps the arithmetic within int64.
    """
    row_bytes = (row_bits + 7) // 8
    per_strip = max(1, STRIP_CHOP_BYTES // row_bytes) if row_bytes <= STRIP_CHOP_BYTES else 1
    n = -(-height // per_strip)
    step = per_strip * row_bytes
    if per_strip >= rows or n > size // step + 1 or offset > size:
        return rows, np.array([offset], np.uint64), np.array([count], np.uint64)
    count = min(count, n * step)
    starts = np.arange(n, dtype=np.uint64) * np.uint64(step)
    sizes = np.clip(np.int64(count) - starts.astype(np.int64), 0, step).astype(np.uint64)
    offsets = np.where(sizes > 0, np.uint64(offset) + starts, np.uint64(0))
    return per_strip, offsets, sizes


def _is_mask(level: Level) -> bool:
    return (
        bool(level.subfile_type & T.SUBFILE_MASK)
        and level.photometric == T.PHOTOMETRIC_MASK
        and level.samples_per_pixel == 1
        and level.bits_per_sample in (1, 8)
    )


def _build(view: ByteView, layout: Layout, ifds: list[IFD]) -> TIFFHeader:
    base = _level(view, layout, ifds[0])
    overviews: list[Level] = []
    masks: dict[tuple[int, int], deque[Level]] = {}  # by size: one lookup per level
    for ifd in ifds[1:]:
        if not _may_be_level(view, layout, ifd):
            continue
        level = _level(view, layout, ifd)
        if level.subfile_type & T.SUBFILE_MASK:
            if _is_mask(level):
                masks.setdefault((level.width, level.height), deque()).append(level)
        elif (
            level.width <= base.width
            and level.height <= base.height
            and level.samples_per_pixel == base.samples_per_pixel
            and level.dtype == base.dtype
        ):
            overviews.append(level)
    overviews.sort(key=lambda lv: lv.width * lv.height, reverse=True)
    levels = []
    for level in [base, *overviews]:
        same_size = masks.get((level.width, level.height))
        if same_size:
            level = replace(level, mask=same_size.popleft())
        levels.append(level)
    return _georeferenced(view, layout, ifds[0], tuple(levels))


def _per_band[V](values: Mapping[int, V], bands: range, missing: V) -> tuple[V, ...]:
    """One value per band, or () when no band has one (a header that claims thousands of
    bands costs nothing unless its metadata really lists them)."""
    return tuple(values.get(b, missing) for b in bands) if values else ()


def _georeferenced(
    view: ByteView, layout: Layout, ifd: IFD, levels: tuple[Level, ...]
) -> TIFFHeader:
    tags = _Tags(view, layout, ifd)
    keys: dict[int, Any] = {}
    directory = tags.entry(T.GEO_KEY_DIRECTORY)
    if directory is not None and directory.type in (3, 4, 1, 16):
        ascii_entry = tags.entry(T.GEO_ASCII_PARAMS)
        keys = geokeys.parse_directory(
            values(view, layout, directory),
            tags.floats(T.GEO_DOUBLE_PARAMS),
            None if ascii_entry is None else raw(view, ascii_entry).decode("latin-1"),
        )
    transform, gcps = geokeys.geotransform(
        keys,
        tags.floats(T.MODEL_PIXEL_SCALE),
        tags.floats(T.MODEL_TIEPOINT),
        tags.floats(T.MODEL_TRANSFORMATION),
    )
    georef = Georeference(
        crs=geokeys.crs(keys),
        transform=transform,
        pixel_is_point=keys.get(geokeys.GT_RASTER_TYPE) == geokeys.RASTER_PIXEL_IS_POINT,
        gcps=gcps,
    )
    meta = parse_gdal_metadata(tags.text(T.GDAL_METADATA))
    bands = range(levels[0].samples_per_pixel)
    return TIFFHeader(
        size=view.size,
        byte_order=layout.byte_order,
        bigtiff=layout.bigtiff,
        levels=levels,
        georef=georef,
        nodata=band_nodata(tags.text(T.GDAL_NODATA), levels[0].dtype),
        descriptions=_per_band(meta.descriptions, bands, None),
        scales=_per_band(meta.scales, bands, None),
        offsets=_per_band(meta.offsets, bands, None),
        units=_per_band(meta.units, bands, None),
        metadata=meta.dataset,
        band_metadata=_per_band(meta.bands, bands, {}),
    )


__all__ = [
    "IFD_READ",
    "PREFIX",
    "HeaderParser",
    "parse_header",
    "read_header",
]
