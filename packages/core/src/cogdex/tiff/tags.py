"""TIFF and GeoTIFF numbers: tag ids, field types, and the enumerations cogdex interprets.

Plain integers rather than enums: the parser compares thousands of them per header and an
IntEnum lookup costs more than the comparison it names.
"""

from __future__ import annotations

# Baseline and extension tags (TIFF 6.0, TIFF Technical Notes, Adobe, GDAL).
NEW_SUBFILE_TYPE = 254
IMAGE_WIDTH = 256
IMAGE_LENGTH = 257
BITS_PER_SAMPLE = 258
COMPRESSION = 259
PHOTOMETRIC = 262
FILL_ORDER = 266
STRIP_OFFSETS = 273
SAMPLES_PER_PIXEL = 277
ROWS_PER_STRIP = 278
STRIP_BYTE_COUNTS = 279
PLANAR_CONFIG = 284
PREDICTOR = 317
TILE_WIDTH = 322
TILE_LENGTH = 323
TILE_OFFSETS = 324
TILE_BYTE_COUNTS = 325
INK_SET = 332
EXTRA_SAMPLES = 338
SAMPLE_FORMAT = 339
JPEG_TABLES = 347
YCBCR_SUBSAMPLING = 530
MODEL_PIXEL_SCALE = 33550
MODEL_TIEPOINT = 33922
MODEL_TRANSFORMATION = 34264
GEO_KEY_DIRECTORY = 34735
GEO_DOUBLE_PARAMS = 34736
GEO_ASCII_PARAMS = 34737
GDAL_METADATA = 42112
GDAL_NODATA = 42113
LERC_PARAMETERS = 50674

# Tags whose values every image needs (structure), and those only the first image needs
# (georeferencing and GDAL's metadata). Other tags are never fetched.
IMAGE_TAGS = frozenset(
    {
        NEW_SUBFILE_TYPE,
        IMAGE_WIDTH,
        IMAGE_LENGTH,
        BITS_PER_SAMPLE,
        COMPRESSION,
        PHOTOMETRIC,
        FILL_ORDER,
        STRIP_OFFSETS,
        SAMPLES_PER_PIXEL,
        ROWS_PER_STRIP,
        STRIP_BYTE_COUNTS,
        PLANAR_CONFIG,
        PREDICTOR,
        TILE_WIDTH,
        TILE_LENGTH,
        TILE_OFFSETS,
        TILE_BYTE_COUNTS,
        INK_SET,
        EXTRA_SAMPLES,
        SAMPLE_FORMAT,
        JPEG_TABLES,
        YCBCR_SUBSAMPLING,
        LERC_PARAMETERS,
    }
)
GEO_TAGS = frozenset(
    {
        MODEL_PIXEL_SCALE,
        MODEL_TIEPOINT,
        MODEL_TRANSFORMATION,
        GEO_KEY_DIRECTORY,
        GEO_DOUBLE_PARAMS,
        GEO_ASCII_PARAMS,
        GDAL_METADATA,
        GDAL_NODATA,
    }
)

# Field types: id -> (bytes per value, numpy type code without byte order).
ASCII = 2
RATIONAL = 5
SRATIONAL = 10
FIELD_TYPES: dict[int, tuple[int, str]] = {
    1: (1, "u1"),  # BYTE
    2: (1, "u1"),  # ASCII
    3: (2, "u2"),  # SHORT
    4: (4, "u4"),  # LONG
    5: (8, "u4"),  # RATIONAL: two LONGs
    6: (1, "i1"),  # SBYTE
    7: (1, "u1"),  # UNDEFINED
    8: (2, "i2"),  # SSHORT
    9: (4, "i4"),  # SLONG
    10: (8, "i4"),  # SRATIONAL: two SLONGs
    11: (4, "f4"),  # FLOAT
    12: (8, "f8"),  # DOUBLE
    13: (4, "u4"),  # IFD
    16: (8, "u8"),  # LONG8 (BigTIFF)
    17: (8, "i8"),  # SLONG8
    18: (8, "u8"),  # IFD8
}

# NewSubfileType bits.
SUBFILE_REDUCED = 1
SUBFILE_MASK = 4

# Photometric interpretations.
PHOTOMETRIC_MINISBLACK = 1
PHOTOMETRIC_RGB = 2
PHOTOMETRIC_MASK = 4
PHOTOMETRIC_SEPARATED = 5
PHOTOMETRIC_YCBCR = 6

# InkSet.
INK_SET_CMYK = 1

# Sample formats.
SAMPLE_UINT = 1
SAMPLE_INT = 2
SAMPLE_FLOAT = 3
SAMPLE_VOID = 4
SAMPLE_COMPLEX_INT = 5
SAMPLE_COMPLEX_FLOAT = 6

# Compression schemes cogdex decodes, with the name GDAL reports (IMAGE_STRUCTURE domain).
NONE = 1
CCITT_RLE = 2
CCITT_FAX3 = 3
CCITT_FAX4 = 4
LZW = 5
OJPEG = 6
JPEG = 7
ADOBE_DEFLATE = 8
JPEG2000 = 34712
JPEGXL = 50002
JPEGXL_DNG = 52546
DEFLATE = 32946
PACKBITS = 32773
LZMA = 34925
ZSTD = 50000
WEBP = 50001
LERC = 34887
PNG = 34933

COMPRESSION_NAMES: dict[int, str] = {
    NONE: "NONE",
    CCITT_RLE: "CCITTRLE",
    CCITT_FAX3: "CCITTFAX3",
    CCITT_FAX4: "CCITTFAX4",
    LZW: "LZW",
    OJPEG: "OJPEG",
    JPEG: "JPEG",
    ADOBE_DEFLATE: "DEFLATE",
    DEFLATE: "DEFLATE",
    PACKBITS: "PACKBITS",
    JPEG2000: "JPEG2000",
    LZMA: "LZMA",
    ZSTD: "ZSTD",
    WEBP: "WEBP",
    LERC: "LERC",
    JPEGXL: "JXL",
    JPEGXL_DNG: "JXL",
    PNG: "PNG",
}

# Compression schemes cogdex does not decode, named for UnsupportedTIFF messages.
OTHER_COMPRESSION_NAMES: dict[int, str] = {
    OJPEG: "old-style JPEG",
    32771: "CCITT RLEW",
    32766: "NeXT",
    32809: "ThunderScan",
    32895: "IT8 CT with padding",
    32896: "IT8 line work",
    32897: "IT8 monochrome picture",
    32898: "IT8 binary line art",
    32908: "PixarFilm",
    32909: "PixarLog",
    32947: "Kodak DCS",
    34661: "JBIG",
    34676: "SGILog",
    34677: "SGILog24",
    34692: "LuraDocument",
    34892: "lossy JPEG (DNG)",
    22610: "JPEG XR",
}

# LercParameters[1]: the compression applied on top of the LERC blob.
LERC_ADD_NONE = 0
LERC_ADD_DEFLATE = 1
LERC_ADD_ZSTD = 2
LERC_NAMES = {LERC_ADD_NONE: "LERC", LERC_ADD_DEFLATE: "LERC_DEFLATE", LERC_ADD_ZSTD: "LERC_ZSTD"}

# Predictors.
PREDICTOR_NONE = 1
PREDICTOR_HORIZONTAL = 2
PREDICTOR_FLOAT = 3


__all__ = [
    "ADOBE_DEFLATE",
    "ASCII",
    "BITS_PER_SAMPLE",
    "CCITT_FAX3",
    "CCITT_FAX4",
    "CCITT_RLE",
    "COMPRESSION",
    "COMPRESSION_NAMES",
    "DEFLATE",
    "EXTRA_SAMPLES",
    "FIELD_TYPES",
    "FILL_ORDER",
    "GDAL_METADATA",
    "GDAL_NODATA",
    "GEO_ASCII_PARAMS",
    "GEO_DOUBLE_PARAMS",
    "GEO_KEY_DIRECTORY",
    "GEO_TAGS",
    "IMAGE_LENGTH",
    "IMAGE_TAGS",
    "IMAGE_WIDTH",
    "INK_SET",
    "INK_SET_CMYK",
    "JPEG",
    "JPEG2000",
    "JPEGXL",
    "JPEGXL_DNG",
    "JPEG_TABLES",
    "LERC",
    "LERC_ADD_DEFLATE",
    "LERC_ADD_NONE",
    "LERC_ADD_ZSTD",
    "LERC_NAMES",
    "LERC_PARAMETERS",
    "LZMA",
    "LZW",
    "MODEL_PIXEL_SCALE",
    "MODEL_TIEPOINT",
    "MODEL_TRANSFORMATION",
    "NEW_SUBFILE_TYPE",
    "NONE",
    "OJPEG",
    "OTHER_COMPRESSION_NAMES",
    "PACKBITS",
    "PHOTOMETRIC",
    "PHOTOMETRIC_MASK",
    "PHOTOMETRIC_MINISBLACK",
    "PHOTOMETRIC_RGB",
    "PHOTOMETRIC_SEPARATED",
    "PHOTOMETRIC_YCBCR",
    "PLANAR_CONFIG",
    "PNG",
    "PREDICTOR",
    "PREDICTOR_FLOAT",
    "PREDICTOR_HORIZONTAL",
    "PREDICTOR_NONE",
    "RATIONAL",
    "ROWS_PER_STRIP",
    "SAMPLES_PER_PIXEL",
    "SAMPLE_COMPLEX_FLOAT",
    "SAMPLE_COMPLEX_INT",
    "SAMPLE_FLOAT",
    "SAMPLE_FORMAT",
    "SAMPLE_INT",
    "SAMPLE_UINT",
    "SAMPLE_VOID",
    "SRATIONAL",
    "STRIP_BYTE_COUNTS",
    "STRIP_OFFSETS",
    "SUBFILE_MASK",
    "SUBFILE_REDUCED",
    "TILE_BYTE_COUNTS",
    "TILE_LENGTH",
    "TILE_OFFSETS",
    "TILE_WIDTH",
    "WEBP",
    "YCBCR_SUBSAMPLING",
    "ZSTD",
]
