"""Credentials given to a build or to `load` are used for reads and never written."""

from __future__ import annotations

import json

import numpy as np

import cogdex
from tests.servers.scenes import AOI_LONLAT

LON, LAT = AOI_LONLAT
AOI = (LON - 0.005, LAT - 0.005, LON + 0.005, LAT + 0.005)


def test_a_private_container_reads_with_the_key_given_to_build_and_load(
    azure_server, stac_files, pixel_coll, tmp_path
):
    items = json.loads(stac_files.items_json.read_text())
    for item in items["features"]:  # the same scenes, from the private Azurite container
        red = item["assets"]["red"]  # band B04
        key = red["href"].split("/", 3)[3]
        item["assets"] = {"red": {**red, "href": azure_server.url(key)}}
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items))
    secret = azure_server.options["account_key"]
    coll = cogdex.build_from_stac(
        path, name="private", bands=["B04"], store_options=azure_server.options, cache_dir=tmp_path
    )
    got = coll.get_numpy(AOI, "B04")
    np.testing.assert_array_equal(got, pixel_coll.get_numpy(AOI, "B04"))
    for written in tmp_path.rglob("*.parquet"):
        assert secret.encode() not in written.read_bytes()
    again = cogdex.load(coll.location, store_options=azure_server.options)
    np.testing.assert_array_equal(again.get_numpy(AOI, "B04"), got)
    assert secret not in json.dumps(dict(again.metadata.store_options), default=str)
