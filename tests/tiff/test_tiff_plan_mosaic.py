"""read.plan and read.mosaic against brute force on random geometries and windows."""

from __future__ import annotations

import numpy as np
import pytest

from cogdex.read.mosaic import allocate, fill_value, paste
from cogdex.read.plan import clip, plan_window
from cogdex.read.window import Window
from cogdex.tiff.model import Level


def _level(width: int, height: int, tw: int, th: int, spp: int, planar: int) -> Level:
    planes = spp if planar == 2 else 1
    n = planes * -(-width // tw) * -(-height // th)
    offsets = np.arange(1, n + 1, dtype=np.uint64) * 100
    offsets[::5] = 0  # some sparse tiles
    return Level(
        width=width,
        height=height,
        tile_width=tw,
        tile_height=th,
        tiled=True,
        tile_offsets=offsets,
        tile_byte_counts=np.full(n, 10, np.uint64),
        compression=1,
        predictor=1,
        bits_per_sample=16,
        sample_format=1,
        samples_per_pixel=spp,
        planar=planar,
        photometric=1,
        dtype="uint16",
    )


def _image_and_tiles(level: Level, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A random image and its tiles as decoders return them (padded edge tiles)."""
    image = rng.integers(0, 60000, (level.samples_per_pixel, level.height, level.width))
    image = image.astype(np.uint16)
    tiles = {}
    th, tw = level.tile_height, level.tile_width
    for plane in range(level.planes):
        for row in range(level.tiles_down):
            for col in range(level.tiles_across):
                block = np.full((th, tw, level.samples_per_pixel), 7, np.uint16)
                part = image[:, row * th : (row + 1) * th, col * tw : (col + 1) * tw]
                block[: part.shape[1], : part.shape[2]] = part.transpose(1, 2, 0)
                if level.planar == 2:
                    block = block[:, :, plane : plane + 1]
                index = (plane * level.tiles_down + row) * level.tiles_across + col
                tiles[index] = block
    return image, tiles


@pytest.mark.parametrize("planar", [1, 2])
def test_plan_and_paste_rebuild_any_window(planar: int) -> None:
    rng = np.random.default_rng(planar)
    for _ in range(60):
        width, height = (int(v) for v in rng.integers(1, 90, 2))
        tw, th = (int(v) for v in rng.integers(1, 40, 2))
        spp = int(rng.integers(1, 5))
        level = _level(width, height, tw, th, spp, planar)
        image, tiles = _image_and_tiles(level, rng)
        window = Window(
            int(rng.integers(-30, width + 5)),
            int(rng.integers(-30, height + 5)),
            int(rng.integers(0, 70)),
            int(rng.integers(0, 70)),
        )
        bands = [int(b) for b in rng.choice(spp, size=int(rng.integers(1, spp + 1)))]
        plan = plan_window(level, window, bands)
        c0, r0, w, h = clip(window, width, height)
        expect = {
            (p * level.tiles_down + r) * level.tiles_across + c
            for p in (sorted(set(bands)) if planar == 2 else [0])
            for r in range(r0 // th, (r0 + h - 1) // th + 1)
            for c in range(c0 // tw, (c0 + w - 1) // tw + 1)
        } if w and h else set()  # fmt: skip
        assert set(plan.index.tolist()) == expect
        assert len(plan.index) == len(expect)
        sparse = (level.tile_offsets[plan.index] == 0) | (level.tile_byte_counts[plan.index] == 0)
        assert np.array_equal(plan.sparse, sparse)

        out = allocate(len(bands), window.height, window.width, np.dtype(np.uint16), 9)
        for i in range(len(plan)):
            index = int(plan.index[i])
            if planar == 2:
                targets = [k for k, b in enumerate(bands) if b == int(plan.plane[i])]
                samples = [0] * len(targets)
            else:
                targets, samples = list(range(len(bands))), bands
            paste(
                out,
                tiles[index],
                window=window,
                origin=(int(plan.row[i]) * th, int(plan.col[i]) * tw),
                image=(width, height),
                samples=samples,
                targets=targets,
            )
        expected = np.full_like(out, 9)
        col, row = window.col_off, window.row_off
        expected[:, r0 - row : r0 - row + h, c0 - col : c0 - col + w] = image[bands][
            :, r0 : r0 + h, c0 : c0 + w
        ]
        assert np.array_equal(out, expected), (width, height, tw, th, window, bands)


def test_fill_value_follows_gdal_casting() -> None:
    assert fill_value(None, np.dtype(np.uint8)) == 0
    assert fill_value(-9999.0, np.dtype(np.uint8)) == 0
    assert fill_value(300.0, np.dtype(np.uint8)) == 255
    assert fill_value(float("nan"), np.dtype(np.int16)) == 0
    assert fill_value(-32768.0, np.dtype(np.int16)) == -32768
    assert np.isnan(fill_value(float("nan"), np.dtype(np.float32)))
