"""cogdex output adapter: xarray Datasets, eager or Dask-backed (`collection.get_xarray`)."""
