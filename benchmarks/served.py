"""The test suite's synthetic scenes on a local nginx, indexed: what the in-process
benchmarks (pytest-benchmark) read, without the lab."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import cogdex
from tests.servers.nginx import start_nginx
from tests.servers.scenes import SceneSet, make_scenes, write_stac


@contextmanager
def served_collection(
    name: str, bands: Sequence[str]
) -> Iterator[tuple[SceneSet, cogdex.Collection, Path]]:
    """(the scenes, a collection of them over HTTP, the scratch folder), removed on exit."""
    root = Path(tempfile.mkdtemp(prefix=f"cogdex-{name}-"))
    scenes = make_scenes(root / "data")
    nginx = start_nginx(shutil.which("nginx") or "nginx", scenes.root, root)
    try:
        stac = write_stac(scenes, nginx.url)
        coll = cogdex.build_from_stac(
            stac.items_json, name=name, bands=list(bands), cache_dir=root / "cache"
        )
        yield scenes, coll, root
    finally:
        nginx.close()
        shutil.rmtree(root, ignore_errors=True)
