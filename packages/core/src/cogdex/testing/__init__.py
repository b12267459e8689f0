"""Real COGs and a real Range server on this machine, for tests, plugins and demos.

A plugin author or a user testing code that reads COGs needs three things without GDAL or a
network: a small COG (`write_cog`), a set of georeferenced scenes with STAC items that point
at them (`write_scenes`, `write_item_collection`), and an HTTP server that answers Range
requests as object stores do and counts them (`RangeServer`). `cogdex demo` runs on these,
and so does cogdex's own test suite. See docs/testing.md. Not imported by `import cogdex`.
"""

from cogdex.testing.cog import write_cog
from cogdex.testing.range_server import LoggedRequest, RangeHandler, RangeServer, parse_range
from cogdex.testing.scenes import Scene, write_item_collection, write_scenes

__all__ = [
    "LoggedRequest",
    "RangeHandler",
    "RangeServer",
    "Scene",
    "parse_range",
    "write_cog",
    "write_item_collection",
    "write_scenes",
]
