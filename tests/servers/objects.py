"""Copying the test files into object-store emulators."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import obstore


def upload(store: Any, files: Mapping[str, Path], concurrency: int = 8) -> None:
    """Put each file at its key, `concurrency` at a time."""
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(obstore.put, store, k, p) for k, p in files.items()]:
            future.result()
