"""The control plane: STAC/table sources -> header fetch -> GeoParquet index rows -> files.

`schema` defines the Arrow layout and converts headers, `stac` and `table` read item sources,
`build` turns items into rows, `store` writes and reads the GeoParquet files, `cache` keeps
built collections on disk, and `band` gives the data plane per-band column arrays.
"""

__all__: list[str] = []
