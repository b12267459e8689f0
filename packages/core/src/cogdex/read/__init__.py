"""Reading pixels: planning tile requests, assembling windows, and warping onto grids."""

DEFAULT_MAX_MEMORY = 4 * 1024**3
"""The default `max_memory` of a pixel read (`get_numpy`, `get_time_series`, `get_xarray`):
a read whose estimated peak exceeds it fails before any request."""


__all__ = [
    "DEFAULT_MAX_MEMORY",
]
