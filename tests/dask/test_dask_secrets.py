"""The secrets a call ships to the workers: removed when it ends, and a failed removal never
hides the call's own outcome."""

from __future__ import annotations

import pytest
from distributed import Client

from cogdex.errors import BuildError
from cogdex_dask import secrets


def _plugins(client: Client) -> set[str]:
    return {name for names in client.run(lambda dask_worker: list(dask_worker.plugins)).values()
            for name in names if name.startswith("cogdex-secrets-")}  # fmt: skip


def test_the_secrets_leave_the_workers_when_the_call_ends(dask_client):
    options = {"aws_secret_access_key": "hunter2", "aws_region": "eu-west-1"}
    with secrets.shipped(dask_client, options, "a build", BuildError) as (public, plugin):
        assert public == {"aws_region": "eu-west-1"}
        assert plugin in _plugins(dask_client)
    assert plugin not in _plugins(dask_client)


def test_a_failed_removal_does_not_replace_the_calls_error(dask_client):
    # The call's client dies mid-call (its scheduler connection gone): its error, not the
    # removal's, reaches the caller, with a warning that the secrets stay on the workers.
    client = Client(dask_client.scheduler.address, set_as_default=False)
    shipped: list[str | None] = []

    def call() -> None:
        options = {"aws_secret_access_key": "hunter2"}
        with secrets.shipped(client, options, "a build", BuildError) as (_, plugin):
            shipped.append(plugin)
            client.close()
            raise BuildError("the call's own failure")

    with (
        pytest.warns(RuntimeWarning, match="still hold this call's store secrets") as caught,
        pytest.raises(BuildError, match="the call's own failure"),
    ):
        call()
    assert "hunter2" not in str(caught[0].message)
    (plugin,) = shipped
    assert plugin in _plugins(dask_client)
    dask_client.unregister_worker_plugin(plugin)  # what the warning asks for
    assert plugin not in _plugins(dask_client)
