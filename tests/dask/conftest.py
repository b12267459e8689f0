"""A Dask cluster of 2 worker processes (1 thread each) on this machine, for the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import Client, LocalCluster


@pytest.fixture(scope="package")
def dask_client() -> Iterator[Client]:
    """A `Client` of a `LocalCluster(n_workers=2, processes=True, threads_per_worker=1)`,
    not the default client (other tests' dask arrays keep their own scheduler)."""
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        yield client
