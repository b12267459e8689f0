"""Without an adapter plugin, the Collection method says which extra to install."""

from __future__ import annotations

import re

import pytest

from cogdex import plugins
from cogdex.errors import MissingPluginError
from tests.servers.scenes import AOI_LONLAT

LON, LAT = AOI_LONLAT
CALLS = {
    "torchgeo": lambda coll: coll.to_torchgeo_dataset(["B04"]),
    "xarray": lambda coll: coll.get_xarray((LON, LAT, LON + 0.01, LAT + 0.01), "B04"),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_missing_adapter_names_the_extra(adapter_coll, name):
    plugin = plugins.plugin_manager().get_plugin(name)
    assert plugin is not None and plugins.adapter(name) is not None
    plugins.unregister(plugin)
    try:
        assert plugins.adapter(name) is None
        with pytest.raises(MissingPluginError, match=re.escape(f'pip install "cogdex[{name}]"')):
            CALLS[name](adapter_coll)
        with pytest.raises(ImportError):  # what `except ImportError` around optional use expects
            CALLS[name](adapter_coll)
    finally:
        plugins.register(plugin, name=name)
    assert plugins.adapter(name) is not None
    CALLS[name](adapter_coll)  # back again
