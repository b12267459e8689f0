"""cogdex's tests (a package so that `tests.servers` is importable)."""
