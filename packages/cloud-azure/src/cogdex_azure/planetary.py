"""Planetary Computer SAS tokens for obstore, refreshed ahead of their expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from obstore.auth.planetary_computer import PlanetaryComputerCredentialProvider

if TYPE_CHECKING:
    from obstore.store import AzureSASToken

MAX_MARGIN = timedelta(minutes=5)
"""The most a token is renewed ahead of its expiry (a fifth of its lifetime if shorter)."""


class PlanetaryComputerSigner(PlanetaryComputerCredentialProvider):
    """obstore's Planetary Computer provider, with the refresh timed by each token's lifetime.

    The parent requests `{sas_url}/{account}/{container}` (`PC_SDK_SAS_URL`, by default the
    Planetary Computer's token API) with the subscription key of `PC_SDK_SUBSCRIPTION_KEY`
    or `~/.planetarycomputer/settings.env`. obstore keeps the token per store and asks again
    only when it is within `refresh_threshold` of `expires_at`, under a lock, so concurrent
    reads share one request. Its default threshold (5 minutes) would re-request a shorter-lived
    token on every read; instead the threshold is zero and the expiry reported to obstore is
    moved ahead by a margin: a fifth of the token's lifetime, at most `MAX_MARGIN`.
    """

    refresh_threshold = timedelta(0)

    def __call__(self) -> AzureSASToken:
        asked = datetime.now(UTC)
        try:
            token = super().__call__()
        except Exception as exc:  # the message is all that crosses obstore's boundary
            raise RuntimeError(
                f"Planetary Computer token request for {self.config['account_name']}/"
                f"{self.config['container_name']} failed: {exc}"
            ) from exc
        expiry = token["expires_at"]
        if expiry is None:
            return token
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)
        margin = min(MAX_MARGIN, max(expiry - asked, timedelta(0)) / 5)
        return {"sas_token": token["sas_token"], "expires_at": expiry - margin}
