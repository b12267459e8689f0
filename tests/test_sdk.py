"""The plugin SDK and what is public: `cogdex.sdk` holds what plugins need and stays cheap to
import, and every core module says what it exports."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import cogdex
from cogdex import sdk

CORE = Path(cogdex.__file__).parent


def _modules() -> list[str]:
    names = []
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


@pytest.mark.parametrize("name", _modules(), ids=str)
def test_every_core_module_says_what_it_exports(name):
    module = importlib.import_module(name)
    assert "__all__" in vars(module), f"{name} has no __all__"
    missing = [n for n in module.__all__ if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"


def test_sdk_names_resolve():
    assert sorted(sdk.__all__) == sorted(set(sdk.__all__))
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None, name
    assert set(sdk.__all__) <= set(dir(sdk))


def test_importing_the_sdk_and_loading_every_plugin_stays_light():
    """Entry points load for every cogdex command: neither the SDK nor a plugin's module
    may import the array stack."""
    heavy = ("numpy", "pyarrow", "pyproj", "shapely", "obstore", "torch", "xarray")
    script = (
        "import sys, cogdex.sdk\n"
        "from cogdex import plugins\n"
        "assert len(plugins.plugin_infos()) >= 7\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"


def test_the_sdk_reaches_the_read_engine_on_first_use():
    assert sdk.grid.same_crs(4326, "EPSG:4326")
    assert sdk.Grid is sdk.grid.Grid
    assert sdk.runtime.run(_answer()) == 42


async def _answer() -> int:
    return 42
