"""`cogdex demo`: synthetic COGs in two UTM zones, a local Range server (both from
`cogdex.testing`), and the pipeline from STAC to pixels over them (`cogdex.demo.run`).
`HELP` is what `cogdex demo --help` shows; it lives here so that the CLI can show it
without importing numpy."""

HELP = """\
Run cogdex end to end on this machine: no network, no GDAL, a few seconds.

Steps, each printed with its wall time, the HTTP requests it made and the bytes it read:
  1 write data   synthetic Sentinel-2-like COGs (B04 red, B08 nir; uint16, deflate,
                 overviews) over a few dates, in two UTM zones (EPSG:32643 and 32644
                 tiles that overlap around 78E, 20N)
  2 serve        a local HTTP server that answers Range requests, as object stores do
  3 build index  a STAC ItemCollection of the scenes -> cogdex.build_from_stac: one
                 request per COG header, headers kept in a GeoParquet index
  4 subset       date range, cloud cover and bbox filters on the index (no requests);
                 lists the records kept
  5 NDVI series  get_numpy over an AOI on the zone boundary, one image per date with the
                 records of both zones warped onto one grid; the grid and the mean NDVI
                 and valid share per date
  6 sample       sample_points at random points: how many values, and one point's
                 values in every record
  7 xarray       (with cogdex[xarray]) the AOI as an xarray Dataset, NDVI per date and
                 its range
  8 torchgeo     (with cogdex[torchgeo]) a DataLoader with 2 worker processes over the
                 AOI's 64 px chips, one epoch in batches of 4: the batches' shape and
                 dtype (--no-torchgeo skips it: importing PyTorch takes seconds)
  9 quick-look   a PNG (--png, default ./cogdex-demo.png): the scene footprints over the
                 AOI, and the AOI's NDVI on the first date
A step whose extra is not installed is shown as skipped, with the pip command to install it.
Then a summary: total time, requests and bytes (client and server counts), cleanup.
The temporary folder is removed and the server stopped, also on errors and Ctrl-C."""


__all__ = [
    "HELP",
]
