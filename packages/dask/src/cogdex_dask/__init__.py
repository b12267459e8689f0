"""cogdex plugin for Dask: index builds whose header fetches run on a `distributed` cluster."""
