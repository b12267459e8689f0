"""Stored values -> physical ones (`scale=True` reads): float32 `raw * scale + offset`, NaN
where a pixel is not valid or holds the record's nodata.

Per record, scale and offset are the STAC item's (`raster:bands`) where it gives them, else
the COG's GDAL metadata, else 1 and 0 (see `cogdex.index.band.BandSource`); nodata is the
file's, else the item's. An output image made of several records (a merge) is scaled once,
with values all its records share: `check_merges` refuses a read before any request when
they differ (a processing-baseline change between two scenes of one day, say).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cogdex.index.band import BandSource


def record_values(src: BandSource, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """(scale, offset, nodata) of collection rows `rows` in `src` (1, 0, NaN where the
    row has none, or is not in `src`)."""
    rows = np.asarray(rows, np.int64)
    at = np.minimum(np.searchsorted(src.rows, rows), max(len(src.rows) - 1, 0))
    found = (src.rows[at] == rows) if len(src.rows) else np.zeros(len(rows), bool)
    nodata = np.where(src.has_nodata, src.nodata, src.stac_nodata)

    def pick(values: np.ndarray, none: float) -> np.ndarray:
        out = np.full(len(rows), none)
        out[found] = values[at[found]]
        return np.where(np.isnan(out), none, out)

    return pick(src.scale, 1.0), pick(src.offset, 0.0), pick(nodata, np.nan)


def check_merges(groups: Sequence[np.ndarray], sources: Sequence[BandSource]) -> None:
    """Raise when the records merged into one image (each of `groups`, collection rows) do
    not share scale, offset and nodata: one pair of values cannot make them all right."""
    merged = [np.asarray(g, np.int64) for g in groups if len(g) > 1]
    if not merged:
        return
    rows = np.concatenate(merged)
    bounds = np.cumsum([0] + [len(g) for g in merged])
    for src in sources:
        values = np.column_stack(record_values(src, rows))
        for k in range(len(merged)):
            part = values[bounds[k] : bounds[k + 1]]
            if not np.array_equal(part, np.broadcast_to(part[:1], part.shape), equal_nan=True):
                raise ValueError(
                    f"scale=True: band {src.band!r} of records merged into one image has "
                    f"different scale/offset/nodata {sorted({tuple(v) for v in part.tolist()})}; "
                    f"read them unmerged (merge=None) or group them so that each image has one"
                )


def physical(
    data: np.ndarray, valid: np.ndarray, rows: np.ndarray, sources: Sequence[BandSource]
) -> np.ndarray:
    """`data` [N, C, ...] of native values as float32 physical values; `rows[n]` is the
    collection row whose scale/offset image n takes, `valid` marks real pixels."""
    out = data.astype(np.float32)
    extra = (slice(None),) + (None,) * (data.ndim - 2)
    for c, src in enumerate(sources):
        scale, offset, nodata = record_values(src, rows)
        band = out[:, c]
        band[data[:, c] == nodata[extra]] = np.nan  # compared as float64: NaN matches none
        band *= scale[extra].astype(np.float32)
        band += offset[extra].astype(np.float32)
    out[~valid] = np.nan
    return out


__all__ = [
    "check_merges",
    "physical",
    "record_values",
]
