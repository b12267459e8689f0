"""`CogdexGeoDataset`: a TorchGeo GeoDataset whose pixels come through cogdex's reader.

The index (footprints, times, collection rows) and the band sources (parsed headers as
Arrow columns) are plain data, so the dataset pickles to DataLoader workers whole: a worker
reads tiles with its own stores and event loop (cogdex's per-process runtime) and never
fetches a header. A sample is one `read_slots` plan: every record x band of the chip, in
one concurrent read, onto the chip's grid in the dataset CRS (other CRSs are warped); a
DataLoader batch (`__getitems__`) is one plan for all its chips.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely
import torch
from torchgeo.datasets import GeoDataset
from torchgeo.datasets.utils import GeoSlice, Sample

from cogdex import Collection
from cogdex.sdk import (
    MERGES,
    FetchError,
    Merge,
    ReadDeadlineError,
    ReadFailureWarning,
    Slot,
    default_fill,
    gather_or_cancel,
    output_dtype,
    read_slots,
    run_read,
)
from cogdex.sdk import grid as G
from cogdex_torchgeo import tensors
from cogdex_torchgeo.index import build_index, crs_key

OnError = Literal["raise", "fill"]
ON_ERROR: tuple[OnError, ...] = ("raise", "fill")


@dataclass(frozen=True)
class ReadFailure:
    """A sample that `on_error="fill"` filled: the chip it covers and why its read failed."""

    bounds: tuple[float, float, float, float]
    """The chip's (xmin, ymin, xmax, ymax) in the dataset CRS."""
    time: tuple[pd.Timestamp, pd.Timestamp]
    url: str | None
    """The object whose read failed (no credentials: see cogdex.errors); None when the
    chip's whole read ran past its deadline (`ReadDeadlineError`)."""
    byte_range: tuple[int, int] | None
    reason: str


@dataclass(frozen=True, slots=True)
class _Chip:
    """A located query: its x, y, t slices, the read's slots (one per time step with
    `time_series`, else one merging every record) and the collection rows under it."""

    x: slice
    y: slice
    t: slice
    slots: list[Slot]
    rows: np.ndarray


class _Columns(NamedTuple):
    """Columns of one index (`CogdexGeoDataset._columns`)."""

    key: tuple[Any, Any, Any]  # the frame, footprints and intervals they were read from
    left: np.ndarray  # datetime64[ns]
    right: np.ndarray
    geometry: np.ndarray  # shapely geometries
    rows: np.ndarray  # collection rows, int64


def _pair(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    h, w = (size, size) if isinstance(size, int) else size
    if h < 1 or w < 1:
        raise ValueError(f"chip_size must be positive, got {size}")
    return int(h), int(w)


def _span(asked: slice, resolved: slice, pixels: int, *, from_start: bool) -> slice:
    """`resolved` (the query with the dataset's bounds filled in) as `pixels` pixels from
    the end the query gave, or from the start (x) / stop (y) when it gave neither; as it is
    when the query gave both."""
    if asked.start is not None and asked.stop is not None:
        return resolved
    length = pixels * resolved.step
    if asked.start is not None or (asked.stop is None and from_start):
        return slice(resolved.start, resolved.start + length, resolved.step)
    return slice(resolved.stop - length, resolved.stop, resolved.step)


def _labels(table: pa.Table, field: str) -> np.ndarray:
    if field not in table.column_names:
        raise KeyError(f"label_field {field!r} is not a column of the collection")
    column = table.column(field)
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
        raise TypeError(f"label_field {field!r} must be numeric or boolean for tensors, not {kind}")
    if column.null_count:
        raise ValueError(f"label_field {field!r} has {column.null_count} missing value(s)")
    return column.to_numpy(zero_copy_only=False)


class CogdexGeoDataset(GeoDataset):
    """Chips of `bands` over the records of a cogdex Collection, for TorchGeo samplers.

    Built by `collection.to_torchgeo_dataset(...)` (see docs/torchgeo.md). A sample is
    `{"image" | "mask", "bounds", "transform"}` (+ `"label"`): `[C, H, W]`, the records
    under the chip merged by `merge` in index (time) order, or `[T, C, H, W]` with
    `time_series`, one step per record.

    A chip whose read fails after the fetch layer's retries (a `cogdex.FetchError`: missing
    or forbidden object, a fault that outlived its retries, the deadline) raises, unless
    `on_error="fill"`: then the sample holds the fill value (`fill_value`, else the nodata,
    else 0), a `ReadFailureWarning` names the chip and the URL, the failure is appended to
    `failed_reads`, and every sample carries `"read_failed"` (a bool tensor, so batches
    stack) to tell filled chips from read ones. `failed_reads` lives in the process that read
    the sample: each DataLoader worker has its own copy, the warning is what crosses
    processes.
    """

    def __init__(
        self,
        collection: Collection,
        bands: str | Sequence[str],
        *,
        chip_size: int | tuple[int, int] | None = None,
        crs: int | str | pyproj.CRS | None = None,
        res: float | tuple[float, float] | None = None,
        time_series: bool = False,
        label_field: str | None = None,
        is_image: bool = True,
        dtype: torch.dtype | None = None,
        transforms: Callable[[Sample], Sample] | None = None,
        resampling: G.Resampling | None = None,
        merge: Merge = "first",
        fill_value: float | None = None,
        on_error: OnError = "raise",
    ) -> None:
        names = [bands] if isinstance(bands, str) else list(bands)
        if not names:
            raise ValueError("no bands given")
        unknown = [b for b in names if b not in collection.band_map]
        if unknown:
            raise KeyError(f"unknown band(s) {', '.join(unknown)}; bands: {collection.bands}")
        if merge not in MERGES:
            raise ValueError(f"merge must be one of {', '.join(MERGES)}, not {merge!r}")
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, not {on_error!r}")
        self.bands = names
        # the rows without their assets: the headers of every band of every record are what
        # a lazily loaded index leaves on disk, and the bands' sources hold those needed
        table, self._sources = collection.read_inputs(names)
        self.index, self._res = build_index(table, self._sources, crs, res)
        self._native = output_dtype(self._sources, self.index["row"].tolist())
        if fill_value is not None:  # chips are read and filled in the files' type
            default_fill(self._sources, self._native, fill_value, advice=(
                f"pass one {self._native} holds: the dataset reads and fills the files' "
                f"{self._native} pixels, and dtype= converts the samples only afterwards"
            ))  # fmt: skip
        self._labels = None if label_field is None else _labels(table, label_field)
        self.label_field = label_field
        self.chip_size = _pair(chip_size)
        self.time_series = time_series
        self.is_image = is_image
        self.dtype = tensors.sample_dtype(dtype, is_image)
        self.resampling: G.Resampling = resampling or tensors.default_resampling(self.dtype)
        self.merge: Merge = merge
        self.fill_value = fill_value
        self.on_error: OnError = on_error
        # Samples filled because their read failed (on_error="fill"), in this process.
        self.failed_reads: list[ReadFailure] = []
        self.transforms = transforms
        self._crs_seen: pyproj.CRS | None = None
        self._crs_value: int | str = 0
        self._bounds: tuple[_Columns, tuple[float, float], tuple[slice, slice, slice]] | None = None
        self._columns_of: _Columns | None = None

    @property
    def bounds(self) -> tuple[slice, slice, slice]:
        """TorchGeo's bounds (the index's extent and time span, the resolution), worked out
        once per index: every query asks for them twice (0.5 ms each from GeoPandas). A
        change of the index (see `_columns`) or of the resolution computes them again."""
        columns, res = self._columns(), self.res
        cached = self._bounds
        if cached is None or cached[0] is not columns or cached[1] != res:
            cached = self._bounds = (columns, res, super().bounds)
        return cached[2]

    def _grid_crs(self) -> int | str:
        """The dataset CRS as grids carry it; follows `crs` changes (IntersectionDataset
        moves its second dataset into the first one's CRS)."""
        current = self.crs
        if current is not self._crs_seen:
            self._crs_value, self._crs_seen = crs_key(current), current
        return self._crs_value

    def _chip(self, index: GeoSlice) -> tuple[slice, slice, slice, tuple[int, int]]:
        """The chip's x, y and t slices and (height, width). The query's bounds decide the
        extent, as TorchGeo's contract says (`ds & other` cuts one box from both), in pixels
        of the query's step, else the dataset's res; `chip_size` only sets an end the query
        leaves open, counted from the end it gives (the upper-left corner when neither)."""
        asked = (index,) if isinstance(index, slice) else tuple(index)
        x, y, t = self._disambiguate_slice(index)
        if self.chip_size is not None:
            h, w = self.chip_size
            x = _span(asked[0] if asked else slice(None), x, w, from_start=True)
            y = _span(asked[1] if len(asked) > 1 else slice(None), y, h, from_start=False)
        w = round((x.stop - x.start) / x.step)
        h = round((y.stop - y.start) / y.step)
        if h < 1 or w < 1:
            raise ValueError(f"the slice {x}, {y} is smaller than one pixel")
        return x, y, t, (h, w)

    def _columns(self) -> _Columns:
        """The index's intervals, footprints and rows as numpy arrays, read again only when
        the index changes: another frame, or new footprints or intervals in it (TorchGeo's
        `crs` setter reprojects the footprints in place). Reading them from the frame costs
        more than the chip's test itself."""
        index = self.index
        footprints, intervals = index.geometry.array, index.index
        cached = self._columns_of
        key = (index, footprints, intervals)
        if cached is None or any(a is not b for a, b in zip(cached.key, key, strict=True)):
            cached = self._columns_of = _Columns(
                key,
                intervals.left.to_numpy(dtype="datetime64[ns]"),
                intervals.right.to_numpy(dtype="datetime64[ns]"),
                np.asarray(footprints),
                index["row"].to_numpy(dtype=np.int64),
            )
        return cached

    def _hit_rows(self, x: slice, y: slice, t: slice) -> np.ndarray:
        """Collection rows of the records whose time interval meets [t.start, t.stop] (every
        t.step-th one) and whose footprint meets the chip, in index order. Intervals are
        closed (the index's and the query's), so records with an instant as their time
        are found at both ends. The footprint test is GeoPandas' `.cx` (intersects the
        chip's box) on the candidates' geometries directly: `.cx` and `.iloc` copy frames,
        3 ms a chip."""
        cols = self._columns()
        start = pd.Timestamp(t.start).to_datetime64()
        stop = pd.Timestamp(t.stop).to_datetime64()
        found = np.flatnonzero((cols.left <= stop) & (cols.right >= start))[:: t.step]
        meets = shapely.intersects(
            cols.geometry[found], shapely.box(x.start, y.start, x.stop, y.stop)
        )
        return cols.rows[found[meets]]

    def _locate(self, index: GeoSlice) -> _Chip:
        """The chip a query asks for and the records under it; IndexError when none."""
        x, y, t, shape = self._chip(index)
        rows = self._hit_rows(x, y, t)
        if not len(rows):
            raise IndexError(f"index: {index} not found in dataset with bounds: {self.bounds}")
        grid = G.Grid(self._grid_crs(), (x.step, 0.0, x.start, 0.0, -y.step, y.stop), shape)
        row_list = tuple(rows.tolist())
        slots = [Slot(grid, (r,)) for r in row_list] if self.time_series else [Slot(grid, row_list)]
        return _Chip(x, y, t, slots, rows)

    def __getitem__(self, index: GeoSlice) -> Sample:
        """The sample at a (possibly partial) spatiotemporal slice; IndexError when no
        record meets it."""
        chip = self._locate(index)
        return self._sample(chip, *self._read_or_fill(chip))

    def __getitems__(self, indices: Sequence[GeoSlice]) -> list[Sample]:
        """The samples of a batch (torch's DataLoader calls this with a batch's queries):
        equal to `[self[i] for i in indices]`, but every chip's tiles come from one read
        plan, so the batch costs the round trips of one chip and a tile shared by chips is
        fetched and decoded once. With `on_error="fill"`, a failed batch read is read again
        chip by chip, so that only the chips whose own read fails are filled."""
        chips = [self._locate(i) for i in indices]
        try:
            parts = run_read(self._read_chips(chips))
        except (FetchError, ReadDeadlineError):
            if self.on_error == "raise":
                raise
            return [self._sample(chip, *self._read_or_fill(chip)) for chip in chips]
        return [self._sample(chip, data, False) for chip, data in zip(chips, parts, strict=True)]

    async def _read_chips(self, chips: list[_Chip]) -> list[np.ndarray]:
        """[S, C, H, W] pixels per chip: chips of one shape in one `read_slots` plan (it
        wants one shape), the plans of other shapes concurrently; the first plan that fails
        cancels the others, so none fetches or decodes after its error reached the caller."""
        by_shape: dict[tuple[int, int], list[int]] = {}
        for k, chip in enumerate(chips):
            by_shape.setdefault(chip.slots[0].grid.shape, []).append(k)
        groups = list(by_shape.values())
        reads = [self._read([s for k in group for s in chips[k].slots]) for group in groups]
        parts: list[np.ndarray] = [np.empty(0)] * len(chips)
        for group, (data, _) in zip(groups, await gather_or_cancel(reads), strict=True):
            start = 0
            for k in group:
                n = len(chips[k].slots)
                parts[k] = data[start : start + n]
                start += n
        return parts

    def _read(self, slots: list[Slot]) -> Coroutine[Any, Any, tuple[np.ndarray, np.ndarray]]:
        return read_slots(
            slots,
            self._sources,
            resampling=self.resampling,
            fill=self.fill_value,
            merge=self.merge,
            dtype=self._native,
        )

    def _sample(self, chip: _Chip, data: np.ndarray, failed: bool) -> Sample:
        """The sample of a chip from its [S, C, H, W] pixels."""
        x, y, t = chip.x, chip.y, chip.t
        pixels = tensors.to_tensor(data if self.time_series else data[0], self.dtype)
        sample: Sample = {
            "bounds": self._slice_to_tensor((x, y, t)),
            "transform": torch.tensor([x.step, 0.0, x.start, 0.0, -y.step, y.stop, 0.0, 0.0, 1.0]),
        }
        if self.is_image:
            sample["image"] = pixels
        else:
            sample["mask"] = pixels.squeeze(-3)
        if self.on_error == "fill":
            sample["read_failed"] = torch.tensor(failed)
        if self._labels is not None:
            values = self._labels[chip.rows]
            sample["label"] = torch.as_tensor(values if self.time_series else values[0])
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample

    def _read_or_fill(self, chip: _Chip) -> tuple[np.ndarray, bool]:
        """([S, C, H, W] pixels, whether the read failed and they are the fill value)."""
        try:
            data, _ = run_read(self._read(chip.slots))
        except (FetchError, ReadDeadlineError) as error:
            if self.on_error == "raise":
                raise
            fill = default_fill(self._sources, self._native, self.fill_value)
            self._report(error, chip.x, chip.y, chip.t, fill)
            shape = (len(chip.slots), len(self._sources), *chip.slots[0].grid.shape)
            return np.full(shape, fill, dtype=self._native), True
        return data, False

    def _report(
        self, error: FetchError | ReadDeadlineError, x: slice, y: slice, t: slice, fill: float
    ) -> None:
        """Record and warn about a chip that `on_error="fill"` fills: never silently."""
        if isinstance(error, FetchError):
            url, byte_range, reason = error.url, error.byte_range, error.reason
        else:  # the chip's whole read ran past its deadline: no one object to name
            url, byte_range, reason = None, None, str(error)
        failure = ReadFailure(
            (x.start, y.start, x.stop, y.stop),
            (pd.Timestamp(t.start), pd.Timestamp(t.stop)),
            url,
            byte_range,
            f"{type(error).__name__}: {reason}",
        )
        self.failed_reads.append(failure)
        warnings.warn(
            f"chip x {x.start:.10g}..{x.stop:.10g}, y {y.start:.10g}..{y.stop:.10g} "
            f"({self.crs.to_string()}), time {failure.time[0]}..{failure.time[1]} filled with "
            f"{fill:g}: {type(error).__name__}: {error}",
            ReadFailureWarning,
            stacklevel=4,
        )
