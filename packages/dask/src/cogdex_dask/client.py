"""The `client=` of a cogdex call: a `distributed.Client`, or "active" (the current one)."""

from __future__ import annotations

from distributed import Client, get_client


def resolve(client: object, error: type[Exception]) -> Client | None:
    """The `Client` that `client` names; None for anything else (another plugin may claim
    it). `error` is raised for "active" without a current client."""
    if client == "active":
        try:
            client = get_client()
        except ValueError:
            raise error(
                "client='active' needs a running Dask client in this process "
                "(distributed.Client(...) first)"
            ) from None
    return client if isinstance(client, Client) else None


__all__ = ["resolve"]
