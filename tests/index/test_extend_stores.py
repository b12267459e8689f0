"""`extend` of collections that read through stores with different options: one set of
options per collection, so the result either keeps the options every record needs or is
refused. Before, the result kept this collection's options for the other's records too,
so their reads went to the wrong store configuration."""

from __future__ import annotations

import pytest

import cogdex
from cogdex.errors import StoreError

BANDS = ["B04"]


def _s3(stac_files, s3_server, bucket, options, name):
    return cogdex.build_from_table(
        stac_files.items_parquet, name=name, bands=BANDS, cache=False,
        href_rewrites={stac_files.base_url: f"s3://{bucket}"}, store_options=options,
    )  # fmt: skip


@pytest.fixture(scope="module")
def paying(stac_files, s3_server):
    """The requester-pays bucket: its reads need `request_payer` and the keys."""
    options = {**s3_server.options, "request_payer": True}
    return _s3(stac_files, s3_server, s3_server.requester_pays_bucket, options, "paying")


def test_two_s3_collections_with_different_options_are_refused(paying, stac_files, s3_server):
    public = _s3(stac_files, s3_server, s3_server.bucket, s3_server.anonymous_options, "public")
    for mine, theirs in ((paying, public), (public, paying)):
        with pytest.raises(StoreError, match="different store options") as err:
            mine.extend(theirs[:2])
        assert "testing" not in str(err.value)  # the secret key is never shown
    with pytest.raises(StoreError, match="different store options"):
        paying.extend(public[:2].to_arrow())  # its metadata holds its public options
    assert len(paying.extend(paying[:2].to_arrow())) == len(paying)  # the same: joins


def _centre_box(coll, k):
    box = coll.to_arrow()["bbox"][k].as_py()
    x, y = (box["xmin"] + box["xmax"]) / 2, (box["ymin"] + box["ymax"]) / 2
    return (x, y, x + 0.002, y + 0.002)


def test_local_records_join_a_store_collection_that_keeps_its_options(
    paying, stac_files, scenes, s3_server
):
    """Local files take no store options: either way round, the result reads with the S3
    collection's, and every record reads. Before, a local collection extended by the S3
    one read the requester-pays bucket with no options at all."""
    local = cogdex.build_from_stac(
        stac_files.items_json, name="local", bands=BANDS, cache=False,
        href_rewrites={stac_files.base_url: str(scenes.root)},
    )  # fmt: skip
    for merged in (local[2:4].extend(paying[:2]), paying[:2].extend(local[2:4])):
        assert dict(merged.store_options) == dict(paying.store_options)
        assert sorted(merged.ids) == sorted(paying.ids[:2] + local.ids[2:4])
        for k, record in enumerate(merged.ids):
            source = paying if record in paying.ids[:2] else local
            want = source[source.ids.index(record)].get_numpy(_centre_box(merged, k), BANDS)
            got = merged[k].get_numpy(_centre_box(merged, k), BANDS)
            assert got.shape == want.shape and got.size
            assert (got == want).all()
