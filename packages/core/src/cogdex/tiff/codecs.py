"""Compression, predictor and sample layout -> one decode function per level (imagecodecs).

`decoder(level, byte_order)` returns a closure that turns one tile's bytes into an array
shaped (rows, tile_width, samples) in native byte order, where `samples` is the samples per
pixel (contiguous) or 1 (separate planes) and `rows` may fall short of the tile height only
for the last strip of an image. Everything that can be decided once per level (dtype,
codec, colour space, row size) is decided when the closure is built, so the per-tile path
is the codec call plus a few numpy views. imagecodecs releases the GIL, so tiles decode in
parallel on the decode pool.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import imagecodecs
import numpy as np

from cogdex.errors import DecodeError, UnsupportedTIFF
from cogdex.tiff import tags as T
from cogdex.tiff.model import ByteOrder, Level

# A tile's bytes: a view into a fetch buffer, or what a codec (bit reversal, LERC's outer
# deflate) made of it.
Bytes = bytes | bytearray | memoryview
Decoder = Callable[[Bytes], np.ndarray]
# What a stream codec returns: given an array as `out`, that array (cut to the bytes
# written), else bytes of its own.
Stream = np.ndarray | Bytes


# Codecs that yield a byte stream to be laid out as samples (the others yield images).
def _inflate(data: Bytes, out: np.ndarray | None = None) -> Stream:
    """Deflate with libdeflate (about twice zlib's speed) into `out`, falling back to zlib,
    which grows its own buffer, for the streams libdeflate refuses."""
    if out is not None:
        try:
            # imagecodecs' stub leaves numpy arrays out of `out`; the codec takes any
            # writable buffer and returns an array given one.
            return imagecodecs.deflate_decode(data, out=out)  # type: ignore[arg-type]
        except imagecodecs.DeflateError:
            pass
    return imagecodecs.zlib_decode(data)


# imagecodecs loads each codec's extension module on first access (~2 ms each), so the
# tables hold names, resolved when a level's decoder is built.
_STREAM_CODECS: dict[int, str] = {
    T.NONE: "",
    T.LZW: "lzw_decode",
    T.ADOBE_DEFLATE: "inflate",
    T.DEFLATE: "inflate",
    T.PACKBITS: "packbits_decode",
    T.ZSTD: "zstd_decode",
    T.LZMA: "lzma_decode",
}
_IMAGE_CODECS: dict[int, str] = {
    T.JPEG2000: "jpeg2k_decode",
    T.JPEGXL: "jpegxl_decode",
    T.JPEGXL_DNG: "jpegxl_decode",
    T.PNG: "png_decode",
}
_OTHER_CODECS = frozenset({T.JPEG, T.LERC, T.WEBP})
_FAX_CODECS: dict[int, str] = {
    T.CCITT_RLE: "ccittrle_decode",
    T.CCITT_FAX3: "ccittfax3_decode",
    T.CCITT_FAX4: "ccittfax4_decode",
}


def _stream_codec(comp: int) -> Callable[..., Stream] | None:
    """The imagecodecs function of a stream compression; None for data stored as is."""
    name = _STREAM_CODECS[comp]
    if not name:
        return None
    if name == "inflate":
        return _inflate if imagecodecs.DEFLATE.available else imagecodecs.zlib_decode
    return getattr(imagecodecs, name)


# Bit order matters only for codecs that read the raw bit stream as stored.
_BITREV_CODECS = frozenset({T.NONE, T.PACKBITS, T.CCITT_RLE, T.CCITT_FAX3, T.CCITT_FAX4})

# Worst-case expansion of deflate; a tile that claims more than this is not trusted with a
# preallocated output buffer (the codec grows its buffer as real data arrives instead).
_MAX_RATIO = 1100


@functools.cache
def sample_dtype(sample_format: int, bits: int) -> str | None:
    """The numpy type GDAL returns for these samples, or None if cogdex cannot read them."""
    dtype = _sample_dtype(sample_format, bits)
    return None if dtype is None else dtype.name


# GDAL's complex types as rasterio returns them: CInt16, CInt32 and CFloat16 have no numpy
# twin and come back as complex64.
_COMPLEX_DTYPES: dict[tuple[int, int], np.dtype] = {
    (T.SAMPLE_COMPLEX_INT, 32): np.dtype(np.complex64),
    (T.SAMPLE_COMPLEX_INT, 64): np.dtype(np.complex64),
    (T.SAMPLE_COMPLEX_FLOAT, 32): np.dtype(np.complex64),
    (T.SAMPLE_COMPLEX_FLOAT, 64): np.dtype(np.complex64),
    (T.SAMPLE_COMPLEX_FLOAT, 128): np.dtype(np.complex128),
}

_INT_DTYPES: dict[int, np.dtype] = {b: np.dtype(f"i{b // 8}") for b in (8, 16, 32, 64)}
_FLOAT_DTYPES: dict[int, np.dtype] = {b: np.dtype(f"f{b // 8}") for b in (16, 32, 64)}


def _sample_dtype(sample_format: int, bits: int) -> np.dtype | None:
    if sample_format in (T.SAMPLE_COMPLEX_INT, T.SAMPLE_COMPLEX_FLOAT):
        if bits > 16:
            return _COMPLEX_DTYPES.get((sample_format, bits))
        sample_format = T.SAMPLE_UINT  # too narrow for a pair: GDAL reads plain integers
    if sample_format in (T.SAMPLE_UINT, T.SAMPLE_VOID):
        if 1 <= bits <= 8:
            return np.dtype(np.uint8)
        if 9 <= bits <= 16:
            return np.dtype(np.uint16)
        if 17 <= bits <= 32:
            return np.dtype(np.uint32)
        if bits == 64:
            return np.dtype(np.uint64)
    elif sample_format == T.SAMPLE_INT:
        return _INT_DTYPES.get(bits)
    elif sample_format == T.SAMPLE_FLOAT:
        return _FLOAT_DTYPES.get(bits)
    return None


def cmyk_as_rgba(photometric: int, bits: int, samples: int) -> bool:
    """Whether GDAL reads these samples as RGBA: 8-bit CMYK (InkSet CMYK, which the header
    has checked) goes through libtiff's RGBA interface, which converts it to uint8 RGBA."""
    return photometric == T.PHOTOMETRIC_SEPARATED and bits == 8 and samples >= 4


def _cmyk_to_rgba(cmyk: np.ndarray) -> np.ndarray:
    """libtiff's conversion of 8-bit CMYK (signed samples read as their bytes): each of R,
    G, B is (255 - K) * (255 - C|M|Y) / 255 truncated; alpha is opaque."""
    values = cmyk.view(np.uint8).astype(np.uint16)
    rgba = np.empty(cmyk.shape, np.uint8)
    rgba[..., :3] = (255 - values[..., 3:4]) * (255 - values[..., :3]) // 255
    rgba[..., 3] = 255
    return rgba


def _is_complex(level: Level) -> bool:
    return np.dtype(level.dtype).kind == "c"


def _stored_dtype(level: Level, byte_order: ByteOrder) -> np.dtype:
    """The dtype of samples as stored in the decompressed stream (file byte order); one
    part (real or imaginary) of a complex sample."""
    if _is_complex(level):
        kind = "i" if level.sample_format == T.SAMPLE_COMPLEX_INT else "f"
        return np.dtype(f"{byte_order}{kind}{level.bits_per_sample // 16}")
    return np.dtype(level.dtype).newbyteorder(byte_order)


def check(level: Level, source: str) -> None:
    """Raise `UnsupportedTIFF` naming the feature if cogdex cannot decode this level."""

    def no(feature: str) -> UnsupportedTIFF:
        return UnsupportedTIFF(
            f"{feature} is not supported", source=source, offset=level.ifd_offset
        )

    comp = level.compression
    bits = level.bits_per_sample
    if comp not in _STREAM_CODECS and comp not in _IMAGE_CODECS and comp not in _OTHER_CODECS:
        if comp not in _FAX_CODECS:
            name = T.OTHER_COMPRESSION_NAMES.get(comp) or T.COMPRESSION_NAMES.get(comp)
            raise no(f"compression {name} ({comp})" if name else f"compression {comp}")
        if bits != 1 or level.samples_per_pixel != 1:
            raise no(f"CCITT compression with {bits}-bit, {level.samples_per_pixel}-sample pixels")
    if comp == T.LERC and level.lerc_parameters[1:2] not in ((), (0,), (1,), (2,)):
        raise no(f"LERC additional compression {level.lerc_parameters[1]}")
    if (
        level.photometric == T.PHOTOMETRIC_YCBCR
        and comp != T.JPEG
        and level.ycbcr_subsampling != (1, 1)
    ):
        raise no("subsampled YCbCr without JPEG compression")
    if cmyk_as_rgba(level.photometric, bits, level.samples_per_pixel) and (
        level.planar == 2 or level.samples_per_pixel > 4
    ):
        # GDAL converts these to 4 RGBA bands, or fails to read separate planes of 5+.
        raise no(f"8-bit CMYK with {level.samples_per_pixel} samples in planar {level.planar}")
    if level.predictor not in (T.PREDICTOR_NONE, T.PREDICTOR_HORIZONTAL, T.PREDICTOR_FLOAT):
        raise no(f"predictor {level.predictor}")
    if comp in _STREAM_CODECS:
        odd = bits not in (8, 16, 32, 64, 128)
        if odd and np.dtype(level.dtype).kind != "u":
            raise no(f"{bits}-bit samples of sample format {level.sample_format}")
        if level.predictor == T.PREDICTOR_HORIZONTAL and (odd or bits == 128):
            # libtiff differences whole samples as integers, and has none of 128 bits.
            raise no(f"horizontal predictor on {bits}-bit format-{level.sample_format} samples")
        if level.predictor == T.PREDICTOR_FLOAT and level.sample_format != T.SAMPLE_FLOAT:
            raise no("floating-point predictor on integer samples")


def decoder(level: Level, byte_order: ByteOrder) -> Decoder:
    """The function that decodes one tile of `level` (see the module docstring)."""
    decode = _decoder(level, byte_order)
    if not cmyk_as_rgba(level.photometric, level.bits_per_sample, level.samples_per_pixel):
        return decode

    def rgba(data: Bytes) -> np.ndarray:
        return _cmyk_to_rgba(decode(data))

    return rgba


def _decoder(level: Level, byte_order: ByteOrder) -> Decoder:
    comp = level.compression
    samples = level.samples_per_pixel if level.planar == 1 else 1
    width = level.tile_width
    height = level.tile_height
    out_dtype = np.dtype(level.dtype)
    if comp in _STREAM_CODECS or comp in _FAX_CODECS:
        return _stream_decoder(level, byte_order, samples)
    if comp == T.JPEG:
        return _image_decoder(_jpeg_function(level, samples), width, height, samples, out_dtype)
    if comp == T.LERC:
        lerc = _lerc_function(level, samples, byte_order)
        return _image_decoder(lerc, width, height, samples, out_dtype)
    if comp == T.WEBP:
        # A tile whose alpha is all opaque may be stored without alpha: ask for it back.
        alpha = samples == 4

        def webp(data: Bytes) -> np.ndarray:
            return imagecodecs.webp_decode(data, hasalpha=alpha)

        return _image_decoder(webp, width, height, samples, out_dtype)
    function = getattr(imagecodecs, _IMAGE_CODECS[comp])
    return _image_decoder(function, width, height, samples, out_dtype)


def _stream_decoder(level: Level, byte_order: ByteOrder, samples: int) -> Decoder:
    comp = level.compression
    width = level.tile_width
    height = level.tile_height
    bits = level.bits_per_sample
    stored = _stored_dtype(level, byte_order)
    out_dtype = np.dtype(level.dtype)
    complex_out = _is_complex(level)
    values_per_row = width * samples * (2 if complex_out else 1)
    packed = not complex_out and bits != stored.itemsize * 8
    row_bytes = (values_per_row * bits + 7) // 8 if packed else values_per_row * stored.itemsize
    if complex_out:
        row_bytes = width * samples * bits // 8
    tile_bytes = row_bytes * height
    reverse_bits = level.fill_order == 2 and comp in _BITREV_CODECS
    predictor = level.predictor
    native = stored.newbyteorder("=")
    # The unsigned integer of one sample (both parts of a complex one) for the predictor.
    unsigned = np.dtype(f"u{min(bits // 8 if complex_out else native.itemsize, 8)}")
    # Complex samples libtiff treats as one integer in the file's byte order (see
    # `_complex_words`): differenced by the predictor, and CFloat16 swapped as one word.
    whole_words = complex_out and (predictor == T.PREDICTOR_HORIZONTAL or native == np.float16)
    fax = getattr(imagecodecs, _FAX_CODECS[comp]) if comp in _FAX_CODECS else None
    codec = _stream_codec(comp) if comp in _STREAM_CODECS else None

    def decode(data: Bytes) -> np.ndarray:
        if reverse_bits:
            data = imagecodecs.bitorder_decode(data)
        if fax is not None:
            image = fax(data, height, width)
            return image.reshape(image.shape[0], width, 1)
        buf: Stream
        if codec is None:  # stored as is
            buf = data
        elif tile_bytes <= _MAX_RATIO * len(data) + 65536:
            # Decode into one array of our own, so the predictor below can run in place: a
            # second tile-sized allocation costs as much as the predictor itself.
            try:
                buf = codec(data, out=np.empty(tile_bytes, np.uint8))
            except RuntimeError:  # more bytes than the tile holds: let the codec grow a buffer
                buf = codec(data)
        else:
            buf = codec(data)
        rows = min(len(buf) // row_bytes, height)
        if rows == 0:
            raise DecodeError(f"tile decoded to {len(buf)} bytes, less than one row")
        if packed:
            flat = imagecodecs.packints_decode(
                bytes(buf[: rows * row_bytes]), out_dtype, bits, runlen=values_per_row
            )
            return flat.reshape(rows, width, samples)
        # `owned`: ours to change in place (else: a codec's bytes)
        if isinstance(buf, np.ndarray):
            arr, owned = buf[: rows * row_bytes].view(stored), True
        else:
            arr, owned = np.frombuffer(buf, stored, count=rows * values_per_row), False
        arr = arr.reshape(rows, width, -1)
        if predictor == T.PREDICTOR_FLOAT:
            arr, owned = imagecodecs.floatpred_decode(arr, axis=-2), True
        if whole_words:
            arr = _complex_words(arr, unsigned, accumulate=predictor == T.PREDICTOR_HORIZONTAL)
        else:
            if not arr.dtype.isnative:
                arr = (arr.byteswap(inplace=True) if owned else arr.byteswap()).view(native)
                owned = True
            if predictor == T.PREDICTOR_HORIZONTAL:
                # libtiff differences the bit patterns as unsigned integers, floats included.
                raw = arr.view(unsigned)
                out = raw if owned else None
                arr = imagecodecs.delta_decode(raw, axis=-2, out=out).view(native)
        if complex_out:
            arr = arr.astype(np.float32 if out_dtype == np.complex64 else np.float64)
            arr = arr.view(out_dtype)
        return arr

    return decode


def _complex_words(parts: np.ndarray, word: np.dtype, *, accumulate: bool) -> np.ndarray:
    """Complex samples read as libtiff reads them when it takes a sample as one integer in
    the file's byte order (`accumulate`: undoing the horizontal predictor over it, which
    differences whole samples; and for CFloat16, which GDAL swaps as one 32-bit word).
    `parts` are the (real, imaginary) values in file byte order; the word's native halves
    are what GDAL returns as (real, imaginary)."""
    words = parts.view(word.newbyteorder(parts.dtype.byteorder)).astype(word)
    if accumulate:
        imagecodecs.delta_decode(words, axis=-2, out=words)
    return words.view(parts.dtype.newbyteorder("="))


def _image_decoder(
    function: Callable[[Bytes], np.ndarray], width: int, height: int, samples: int, dtype: np.dtype
) -> Decoder:
    def decode(data: Bytes) -> np.ndarray:
        image = function(data)
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3 or image.shape[1] != width or image.shape[2] != samples:
            raise DecodeError(
                f"tile decoded to shape {image.shape}, expected ({height}, {width}, {samples})"
            )
        if image.shape[0] > height:
            image = image[:height]
        if image.dtype != dtype:
            image = image.astype(dtype)
        return image

    return decode


def _jpeg_function(level: Level, samples: int) -> Callable[[Bytes], np.ndarray]:
    tables = level.jpeg_tables
    colorspace: str | None
    outcolorspace: str | None
    if samples == 3 and level.photometric == T.PHOTOMETRIC_YCBCR:
        # libtiff (and so GDAL) asks libjpeg for RGB: the upsampling and colour conversion
        # of libjpeg-turbo, which imagecodecs links too.
        colorspace, outcolorspace = "YCBCR", "RGB"
    else:
        # Any other photometric: the components as stored, no colour conversion.
        colorspace = outcolorspace = {1: "GRAYSCALE", 3: "RGB", 4: "CMYK"}.get(samples)
        if samples not in (1, 3, 4):
            colorspace = outcolorspace = None

    def function(data: Bytes) -> np.ndarray:
        _check_jpeg_frame(data, level.tile_width, level.tile_height)
        return imagecodecs.jpeg8_decode(
            data, tables=tables, colorspace=colorspace, outcolorspace=outcolorspace
        )

    return function


# Start-of-frame markers: baseline, extended, progressive, lossless (not DHT, JPG, DAC).
_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD})
_SOF_MARKERS |= {0xCE, 0xCF}


def _check_jpeg_frame(data: Bytes, width: int, height: int) -> None:
    """Refuse a JPEG stream whose frame is larger than the tile, as libtiff does, before
    libjpeg allocates the frame the stream declares (corrupt data can declare gigabytes).
    Walks the marker segments up to the frame header: a few steps per tile."""
    view = memoryview(data)
    pos = 2
    while pos + 9 <= len(view) and view[pos] == 0xFF:
        marker = view[pos + 1]
        if marker in _SOF_MARKERS:
            rows = int.from_bytes(view[pos + 5 : pos + 7], "big")
            cols = int.from_bytes(view[pos + 7 : pos + 9], "big")
            if rows > height or cols > width:
                raise DecodeError(f"JPEG frame of {cols}x{rows} pixels in a {width}x{height} tile")
            return
        if marker == 0xDA:  # start of scan: no frame header before it
            return
        pos += 2 + int.from_bytes(view[pos + 2 : pos + 4], "big")


def _check_lerc_blob(data: Bytes, width: int, height: int, samples: int) -> None:
    """Refuse a Lerc2 blob whose header declares more values than the tile holds: the LERC
    library allocates rows x columns x depth as declared (corrupt data can declare GiBs).
    The header: b"Lerc2 ", version, a checksum from version 3, then rows, columns and, from
    version 4, depth, as little-endian int32s."""
    if len(data) < 26 or bytes(data[:6]) != b"Lerc2 ":
        return
    version = int.from_bytes(data[6:10], "little", signed=True)
    at = 14 if version >= 3 else 10
    rows = int.from_bytes(data[at : at + 4], "little", signed=True)
    cols = int.from_bytes(data[at + 4 : at + 8], "little", signed=True)
    depth = int.from_bytes(data[at + 8 : at + 12], "little", signed=True) if version >= 4 else 1
    if not (0 < rows <= height and 0 < cols <= width and 0 < depth <= samples):
        raise DecodeError(
            f"LERC blob of {cols}x{rows}x{depth} values in a {width}x{height}x{samples} tile"
        )


def _lerc_function(
    level: Level, samples: int, byte_order: ByteOrder
) -> Callable[[Bytes], np.ndarray]:
    extra = level.lerc_parameters[1] if len(level.lerc_parameters) > 1 else T.LERC_ADD_NONE
    floats = np.dtype(level.dtype).kind == "f"
    # libtiff encodes the samples of a big-endian file as they are stored, byte-swapped:
    # the blob decodes to values in file order, which must be swapped back.
    swap = np.dtype(level.dtype).itemsize > 1 and not np.dtype(byte_order + "u2").isnative

    def function(data: Bytes) -> np.ndarray:
        if extra == T.LERC_ADD_DEFLATE:
            data = imagecodecs.zlib_decode(data)
        elif extra == T.LERC_ADD_ZSTD:
            data = imagecodecs.zstd_decode(data)
        _check_lerc_blob(data, level.tile_width, level.tile_height, samples)
        image, valid = imagecodecs.lerc_decode(data, masks=True)
        if samples > 1 and image.ndim == 3 and image.shape[0] == samples != image.shape[2]:
            # Blobs with per-band masks hold bands one after the other, not interleaved.
            image = np.moveaxis(image, 0, -1)
            valid = None if valid is None else np.moveaxis(valid, 0, -1)
        if swap:
            image = image.byteswap()
        if valid is not None and floats:
            # libtiff gives invalid pixels of float LERC data as NaN (integers stay 0).
            if valid.ndim < image.ndim:
                valid = valid[..., None]
            image = np.where(valid, image, np.nan).astype(image.dtype, copy=False)
        return image

    return function


__all__ = [
    "Decoder",
    "check",
    "cmyk_as_rgba",
    "decoder",
    "sample_dtype",
]
