"""`Collection.to(name, ...)` reaches any output a plugin registers: here the third-party
example plugin's `footprints` (tests/plugins/example), installed as users install plugins."""

from __future__ import annotations

import importlib
import inspect
import json

import pytest

from cogdex import Collection, plugins
from cogdex.errors import MissingPluginError


def test_to_dispatches_to_a_third_party_output(adapter_coll):
    found = adapter_coll.to("footprints", properties=["cloud_cover"])
    assert found["type"] == "FeatureCollection"
    features = found["features"]
    assert [f["id"] for f in features] == adapter_coll.ids
    table = adapter_coll.to_arrow()
    for feature, bbox, cloud in zip(
        features,
        table.column("bbox").to_pylist(),
        table.column("cloud_cover").to_pylist(),
        strict=True,
    ):
        assert feature["geometry"]["type"] == "Polygon"
        ring = feature["geometry"]["coordinates"][0]
        xs, ys = [p[0] for p in ring], [p[1] for p in ring]
        assert (min(xs), min(ys), max(xs), max(ys)) == pytest.approx(
            (bbox["xmin"], bbox["ymin"], bbox["xmax"], bbox["ymax"])
        )
        assert feature["properties"]["cloud_cover"] == cloud
        assert feature["properties"]["datetime"].startswith("20")
    assert json.loads(json.dumps(found)) == found  # plain JSON, ready to write


def test_an_unknown_output_lists_the_installed_ones(adapter_coll):
    with pytest.raises(MissingPluginError) as raised:
        adapter_coll.to("footprint")
    assert raised.value.extra is None  # no cogdex extra provides it: nothing to pip install
    message = str(raised.value)
    assert "output 'footprint'" in message and "pip install" not in message
    for name in ("footprints", "torchgeo", "xarray"):
        assert name in plugins.adapter_names() and name in message


def test_a_missing_builtin_output_names_its_extra(adapter_coll):
    plugin = plugins.plugin_manager().get_plugin("torchgeo")
    plugins.unregister(plugin)
    try:
        with pytest.raises(MissingPluginError, match=r'pip install "cogdex\[torchgeo\]"') as raised:
            adapter_coll.to("torchgeo", ["B04"])
        assert raised.value.extra == "torchgeo" and "footprints" in str(raised.value)
        with pytest.raises(MissingPluginError, match=r'pip install "cogdex\[torchgeo\]"'):
            adapter_coll.to("torchgeo_loader", ["B04"], size=32)  # the same plugin's loader
    finally:
        plugins.register(plugin, name="torchgeo")


@pytest.mark.parametrize(
    ("shortcut", "adapter"),
    [
        ("to_torchgeo_dataset", "cogdex_torchgeo.dataset:CogdexGeoDataset.__init__"),
        ("get_xarray", "cogdex_xarray.dataset:get_xarray"),
    ],
)
def test_the_typed_shortcuts_take_what_their_adapter_takes(shortcut, adapter):
    """The shortcuts spell out the adapters' keywords and defaults: they must not drift."""
    module, _, name = adapter.partition(":")
    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    mine = list(inspect.signature(getattr(Collection, shortcut)).parameters.values())[1:]
    theirs = list(inspect.signature(target).parameters.values())[1:]
    if shortcut == "to_torchgeo_dataset":
        theirs = theirs[1:]  # __init__(self, collection, ...)
    assert [(p.name, p.kind, p.default) for p in mine] == [
        (p.name, p.kind, p.default) for p in theirs
    ]
