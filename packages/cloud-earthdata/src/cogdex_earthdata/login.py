"""The Earthdata Login bearer token: given, from `EARTHDATA_TOKEN`, or from a login.

A username and password (`EARTHDATA_USERNAME`/`EARTHDATA_PASSWORD`, or the netrc entry of
the Earthdata Login host, in `NETRC` or ~/.netrc) are exchanged for the user's token at
Earthdata Login's token API, once per process. `EARTHDATA_HOST` selects another Earthdata
Login system (e.g. `uat.urs.earthdata.nasa.gov`). earthaccess's login is not used here: it
matches the host without its port, and imports far more than one POST needs.
"""

from __future__ import annotations

import netrc
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_HOST = "urs.earthdata.nasa.gov"
TIMEOUT = 30.0

_LOGIN_ENV = ("EARTHDATA_USERNAME", "EARTHDATA_PASSWORD", "NETRC", "HOME", "EARTHDATA_HOST")
_logins: dict[tuple[str | int | None, ...], str | None] = {}
_lock = threading.Lock()


class LoginError(Exception):
    """Earthdata Login refused the username and password, or the netrc file is unreadable."""


def bearer_token(options: Mapping[str, Any]) -> str | None:
    """The token for reads: the `earthdata_token` option, `EARTHDATA_TOKEN`, or a login;
    None when there is no credential anywhere."""
    token = options.get("earthdata_token") or os.environ.get("EARTHDATA_TOKEN")
    if token:
        return str(token)
    key = (os.getpid(), *(os.environ.get(name) for name in _LOGIN_ENV))
    with _lock:
        if key not in _logins:
            _logins[key] = _login()
        return _logins[key]


def _login() -> str | None:
    host = os.environ.get("EARTHDATA_HOST", DEFAULT_HOST)
    user_password = _user_password(host)
    if user_password is None:
        return None
    import requests

    response = requests.post(
        f"https://{host}/api/users/find_or_create_token",
        auth=user_password,
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
    )
    if response.status_code in (401, 403):
        raise LoginError(f"{host} answered {response.status_code}: {response.text.strip()}")
    response.raise_for_status()
    return str(response.json()["access_token"])


def _user_password(host: str) -> tuple[str, str] | None:
    user, password = os.environ.get("EARTHDATA_USERNAME"), os.environ.get("EARTHDATA_PASSWORD")
    if user and password:
        return user, password
    path = Path(
        os.environ.get("NETRC") or Path.home() / ("_netrc" if os.name == "nt" else ".netrc")
    )
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (netrc.NetrcParseError, OSError) as exc:
        raise LoginError(f"cannot read {path}: {exc}") from exc
    if entry is None or not entry[0] or not entry[2]:
        return None
    return entry[0], entry[2]
