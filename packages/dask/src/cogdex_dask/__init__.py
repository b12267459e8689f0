"""cogdex plugin for Dask: index builds and point sampling on a `distributed` cluster."""
