"""The `client=` of a cogdex call: a `distributed.Client`, "active" (the current one), or a
scheduler's address, connected to for the call's tasks only."""

from __future__ import annotations

from typing import TypeGuard

from distributed import Client, get_client
from distributed.comm.addressing import parse_address
from distributed.comm.registry import backends


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


def is_address(text: object) -> TypeGuard[str]:
    """Whether `text` is a scheduler address as Dask writes them: a scheme Dask connects
    with (tcp, tls, ws, ...), "://", the location."""
    if not isinstance(text, str):
        return False
    try:
        scheme, _ = parse_address(text, strict=True)
    except ValueError:
        return False
    return scheme in backends


def connect(address: str, error: type[Exception]) -> Client:
    """A client of the scheduler at `address`, not made the default; `error` (naming the
    address) when it cannot be reached within Dask's `distributed.comm.timeouts.connect`."""
    try:
        return Client(address, set_as_default=False)
    except OSError as exc:  # refused, unreachable, timed out
        raise error(f"cannot reach the Dask scheduler at {address}: {exc}") from exc


__all__ = ["connect", "is_address", "resolve"]
