"""cogdex output adapter: xarray."""
