"""Catalog entries behind credentials resolve to their cloud plugin, their flags travel from
the entry through the index metadata to every read, and without the plugin the error names
the extra to install."""

from __future__ import annotations

import pytest
from obstore.auth.boto3 import Boto3CredentialProvider

import cogdex
from cogdex import plugins
from cogdex.builds import dataset_store_options
from cogdex.datasets import DatasetEntry, StacSource
from cogdex.errors import AccessDeniedError, MissingCredentialsError, MissingPluginError
from cogdex.hookspecs import hookimpl
from cogdex.index.build import clean_href
from cogdex.io import fetch, runtime
from cogdex.io.stores import stores
from cogdex.io.urls import parse_url
from cogdex_azure.planetary import PlanetaryComputerSigner
from tests.cloud.conftest import without_plugin
from tests.servers.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from tests.servers.scenes import AOI_LONLAT, COLLECTION

_LANDSAT = (
    "https://landsatlook.usgs.gov/data/collection02/level-2/standard/oli-tirs/2024/044/034/"
    "LC09_L2SP_044034_20240101_20240102_02_T1/LC09_L2SP_044034_20240101_20240102_02_T1_SR_B4.TIF"
)
_NAIP = "s3://naip-analytic/ca/2020/60cm/rgbir_cog/32117/m_3211720_ne_11_060_20200524.tif"
_PC = "https://pcstorage01.blob.core.windows.net/data/scene/B04.tif"
_AWS = {"earthsearch/landsat-c2-l2": _LANDSAT, "earthsearch/naip": _NAIP}
_PC_IDS = sorted(e.id for e in plugins.datasets() if e.id.startswith("pc/"))


def _url(dataset_id: str, href: str):
    return parse_url(clean_href(href, plugins.dataset(dataset_id).href_rewrites))


def test_every_pc_and_requester_pays_entry_names_its_plugin():
    for entry in plugins.datasets():
        if entry.requester_pays:
            assert (entry.cloud, entry.auth) == ("aws", "aws"), entry.id
        if entry.id.startswith("pc/"):
            assert (entry.cloud, entry.auth) == ("azure", "planetary-computer"), entry.id
    assert set(_AWS) <= {e.id for e in plugins.datasets() if e.requester_pays}
    assert len(_PC_IDS) >= 6


@pytest.mark.parametrize("dataset_id", sorted(_AWS))
def test_requester_pays_entries_resolve_to_the_aws_plugin(dataset_id, monkeypatch):
    url = _url(dataset_id, _AWS[dataset_id])
    assert url.kind == "s3"  # landsat's https mirror is rewritten to its bucket
    options = dataset_store_options(plugins.dataset(dataset_id))
    assert options["request_payer"] is True
    with pytest.raises(MissingCredentialsError, match="configure AWS credentials"):
        plugins.store_spec(url, options)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    spec = plugins.store_spec(url, options)
    assert spec is not None and isinstance(spec.credential_provider, Boto3CredentialProvider)
    assert spec.config["request_payer"] is True and spec.config["region"] == "us-west-2"


@pytest.mark.parametrize("dataset_id", _PC_IDS)
def test_pc_entries_resolve_to_the_azure_plugin(dataset_id):
    options = dataset_store_options(plugins.dataset(dataset_id))
    assert options == {"planetary_computer": True}
    spec = plugins.store_spec(parse_url(_PC), options)
    assert spec is not None and isinstance(spec.credential_provider, PlanetaryComputerSigner)
    assert spec.credential_provider.config == {
        "account_name": "pcstorage01",
        "container_name": "data",
    }


@pytest.mark.parametrize(
    ("dataset_id", "extra"),
    [("earthsearch/landsat-c2-l2", "aws"), ("earthsearch/naip", "aws"), ("pc/nasadem", "azure")],
)
def test_without_the_plugin_builds_and_reads_name_the_extra(dataset_id, extra, tmp_path):
    entry = plugins.dataset(dataset_id)
    href = _AWS.get(dataset_id, _PC)
    with without_plugin(extra):
        with pytest.raises(MissingPluginError, match=rf'pip install "cogdex\[{extra}\]"'):
            cogdex.build(dataset_id, name="x", bbox=(0, 0, 1, 1), cache_dir=tmp_path)
        with pytest.raises((MissingPluginError, MissingCredentialsError)) as err:
            stores().resolve(_url(dataset_id, href), dataset_store_options(entry))
        assert f"cogdex[{extra}]" in str(err.value)


class _RequesterPaysDataset:
    """A catalog entry over the STAC API whose files are in the requester-pays bucket."""

    def __init__(self, api_url: str, http_base: str, bucket: str, endpoint: str) -> None:
        self.entry = DatasetEntry(
            id="cloudtest/requester-pays",
            name="scenes in a requester-pays bucket",
            description="",
            source=StacSource(api_url, COLLECTION),
            license="CC0-1.0",
            commercial_use=True,
            coverage="test",
            bands={"B04": "red"},
            auth="aws",
            cloud="aws",
            requester_pays=True,
            href_rewrites={http_base + "/": f"s3://{bucket}/"},
            store_options={"endpoint": endpoint, "region": "us-east-1"},
        )

    @hookimpl
    def cogdex_datasets(self) -> list[DatasetEntry]:
        return [self.entry]


def test_requester_pays_flag_flows_from_entry_to_index_to_reads(
    stac_api, stac_files, s3_server, scenes, monkeypatch, tmp_path
):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    dataset = _RequesterPaysDataset(
        stac_api.url, stac_files.base_url, s3_server.requester_pays_bucket, s3_server.endpoint
    )
    plugins.register(dataset, name="cloudtest")
    try:
        built = cogdex.build(dataset.entry.id, name="rp", cache_dir=tmp_path / "cache")
    finally:
        plugins.unregister(dataset)
    assert len(built) == len(scenes.scenes) and built.skipped == []
    assert dict(built.store_options) == {
        "endpoint": s3_server.endpoint,
        "region": "us-east-1",
        "request_payer": True,
    }
    exported = built.export(tmp_path / "rp.parquet")

    loaded = cogdex.load(exported, cache_dir=tmp_path / "load")
    lon, lat = AOI_LONLAT
    aoi = (lon - 0.003, lat - 0.003, lon + 0.003, lat + 0.003)
    data = loaded.get_numpy(aoi, "B04")  # signed by the chain, with the header, from the index
    assert (data > 0).mean() > 0.5
    # Its files without the flag are refused by the bucket: the flag did the work.
    href = loaded.band_source("B04").hrefs[0]
    assert href.startswith(f"s3://{s3_server.requester_pays_bucket}/")
    with pytest.raises(AccessDeniedError, match="cogdex-requester-pays"):
        runtime.run(fetch.read_ranges(href, [(0, 16)], options={"endpoint": s3_server.endpoint}))
