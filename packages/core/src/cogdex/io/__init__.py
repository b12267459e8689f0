"""Data-plane I/O: URL -> store, byte ranges -> bytes, and the per-process runtime."""

__all__: list[str] = []
