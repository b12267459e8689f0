"""Cold processes that read pixels from a loaded index do not import pandas."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_reading_pixels_from_a_loaded_index_never_imports_pandas(pixel_coll):
    """pandas is installed here: a cold process that loads an index, filters it and reads
    pixels must not import it (it costs ~0.3 s per process)."""
    script = textwrap.dedent(f"""
        import sys
        import cogdex
        coll = cogdex.load({str(pixel_coll.location)!r}).subset(cloud_cover_lt=100)
        aoi = (77.99, 19.99, 78.01, 20.01)
        coll.get_numpy(aoi, ["B04", "B08"], return_table=True, merge="first")
        coll.get_time_series(aoi, "B04")
        coll.sample_points(([78.0], [20.0]), ["B04"])
        assert "pandas" not in sys.modules, "pandas was imported"
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
