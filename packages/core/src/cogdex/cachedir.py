"""Where cogdex keeps files on this machine: the `cache_dir` argument, else
`$COGDEX_CACHE_DIR`, else the platform's user cache folder.

Built collections (`cogdex.index.cache`), downloaded remote indexes and the plugin manager's
entry-point list live under it; it sits below all of them (standard library only), so the
plugin manager finds it without importing the index.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "COGDEX_CACHE_DIR"


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """`cache_dir`, else `$COGDEX_CACHE_DIR`, else the platform's per-user cache folder."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(ENV)
    if env:
        return Path(env).expanduser()
    return _user_cache_dir()


def _user_cache_dir() -> Path:
    """The platform's convention (platformdirs' answers, without its ~20 ms import)."""
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
        return Path(local, "cogdex", "Cache")
    if sys.platform == "darwin":
        return Path("~/Library/Caches/cogdex").expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return Path(xdg if xdg.strip() else os.path.expanduser("~/.cache"), "cogdex")


__all__ = ["ENV", "cache_root"]
