"""No credential ever lands in an index, an export, a repr, a log record, an error message or
the CLI's output: builds from the real STAC API (its URL carrying an API key), static STAC
(signed asset hrefs, unreadable ones, hrefs with user:password@), moto S3 and Azurite with
keys in their store options; then every byte cogdex wrote, and everything it showed, is
searched for the secrets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import cogdex
from cogdex.cli import main
from cogdex.errors import AccessDeniedError, CogdexError
from cogdex.io import runtime
from cogdex.io.stores import default_spec
from cogdex.io.urls import parse_url
from cogdex.testing import RangeHandler, RangeServer
from cogdex.tiff.header import read_header
from tests.servers.process import free_port

COLLECTION = "sentinel-2-l2a"
ASSET = "red"  # band B04
API_KEY = "SECRET-api-key-1"
PASSWORD = "SECRET-password-2"
SIGNATURE = "SECRET-signature-3"
TOKEN = "SECRET-token-4"
S3_SECRET = "SECRET-s3-secret-5"
SAS = "SECRET-sas-6"
BEARER = "SECRET-bearer-7"
BASIC = "Basic U0VDUkVULWJhc2ljLTg="  # SECRET-basic-8


class _BasicAuth(RangeHandler):
    """Files only for requests with the right Authorization header; 401 otherwise."""

    def serve(self, head: bool) -> None:
        if self.headers.get("Authorization") != BASIC:
            self.send_status(401)
        else:
            super().serve(head)


class Shown:
    """Everything cogdex showed during the test: reprs, error messages, CLI output."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.texts: list[str] = []
        self.capsys = capsys

    def add(self, *values: Any) -> None:
        self.texts.extend(str(v) for v in values)
        self.texts.extend(repr(v) for v in values)

    def error(self, call: Callable[[], Any]) -> CogdexError:
        with pytest.raises(CogdexError) as info:
            call()
        exc = info.value
        self.add(exc, *vars(exc).values(), exc.__cause__)
        return exc

    def cli(self, *argv: str) -> int:
        code = main(list(argv))
        out = self.capsys.readouterr()
        self.texts += [out.out, out.err]
        return code


def _items(stac_files, hrefs: Callable[[str, int], str]) -> dict[str, Any]:
    """The test ItemCollection with each item's B04 href replaced by hrefs(href, i)."""
    doc = json.loads(stac_files.items_json.read_text())
    for i, item in enumerate(doc["features"]):
        asset = item["assets"][ASSET]
        asset["href"] = hrefs(asset["href"], i)
    return doc


def _hrefs(coll: cogdex.Collection) -> list[str]:
    return [row[ASSET]["href"] for row in coll.to_arrow()["assets"].to_pylist()]


def _write(folder: Path, name: str, doc: dict[str, Any]) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(doc))
    return path


def _signed(href: str, i: int) -> str:
    base = href.rsplit("/", 1)[0]
    if i == 0:
        return f"{base}/missing.tif?X-Amz-Signature={SIGNATURE}"  # 404
    if i == 1:
        return f"http://no-such-host.invalid/a.tif?sig={SIGNATURE}"  # no host
    if i == 2:
        return f"{base.rsplit('/', 2)[0]}/items.json?sig={SIGNATURE}"  # not a TIFF
    return f"{href}?sv=2024&se=2030-01-01&sig={SIGNATURE}"


def test_no_secret_is_written_shown_or_logged(
    stac_api, stac_files, s3_server, azure_server, tmp_path, capsys, caplog, recwarn
):
    caplog.set_level(logging.DEBUG)
    cache, exports, inputs = tmp_path / "cache", tmp_path / "exports", tmp_path / "inputs"
    exports.mkdir()
    shown = Shown(capsys)
    secret_options = {
        "secret_access_key": S3_SECRET,
        "sas_token": SAS,
        "proxy_url": f"http://proxy-user:{PASSWORD}@127.0.0.1:9",
        "client_options": {"default_headers": {"Authorization": f"Bearer {BEARER}"}},
    }
    common: dict[str, Any] = {"bands": ["B04"], "cache_dir": cache}

    # The real STAC API, its key in the URL's query string (it ignores unknown parameters).
    keyed = f"{stac_api.url}?api_key={API_KEY}"
    api = cogdex.build_from_stac(
        keyed, COLLECTION, name="api", store_options=secret_options, **common
    )
    assert len(api) == 8 and api.source["url"] == stac_api.url
    # The key is no part of the cache key: a rotated key finds the cached collection.
    again = cogdex.build_from_stac(
        f"{stac_api.url}?api_key=other",
        COLLECTION,
        name="api",
        store_options=secret_options,
        **common,
    )
    assert again.location == api.location

    # Signed hrefs lose their signature; unreadable ones are skipped with a safe reason.
    signed = _write(inputs, "signed.json", _items(stac_files, _signed))
    static = cogdex.build_from_stac(signed, name="static", **common)
    assert len(static) == 5 and [s["asset"] for s in static.skipped].count(ASSET) == 3
    assert all("?" not in href for href in _hrefs(static))
    shown.add(static, static.skipped, static.source, static.metadata)
    shown.error(lambda: cogdex.build_from_stac(signed, name="strict", strict=True, **common))

    # S3 (moto) and Azure (Azurite) with their keys in the store options.
    base = stac_files.base_url + "/"
    s3 = cogdex.build_from_stac(
        stac_files.items_json,
        name="s3",
        href_rewrites={base: f"s3://{s3_server.bucket}/"},
        store_options={**s3_server.options, "secret_access_key": S3_SECRET},
        **common,
    )
    azure = cogdex.build_from_stac(
        stac_files.items_json,
        name="azure",
        href_rewrites={base: f"az://{azure_server.container}@{azure_server.account}/"},
        store_options={**azure_server.options, "sas_token": SAS},
        **common,
    )
    assert len(s3) == len(azure) == 8
    assert s3.store_options["secret_access_key"] == S3_SECRET  # in memory, for reads
    for coll in (api, static, s3, azure):
        shown.add(coll, coll.source, coll.metadata, coll.skipped, coll.band_source("B04"))
        shown.add(coll.store_options)  # what a user prints to see how reads are made
        href = _hrefs(coll)[-1]
        spec = default_spec(parse_url(href), coll.store_options)
        shown.add(spec, cogdex.open(href, **coll.store_options))
        coll.export(exports / f"{coll.name}.parquet")
        shown.add(cogdex.load(exports / f"{coll.name}.parquet"))

    # Errors that quote URLs with credentials.
    with_password = _write(
        inputs,
        "password.json",
        _items(stac_files, lambda h, _: h.replace("http://", f"http://user:{PASSWORD}@")),
    )
    exc = shown.error(lambda: cogdex.build_from_stac(with_password, name="pw", **common))
    assert "store_options" in str(exc)
    dead = f"http://127.0.0.1:{free_port()}/stac?api_key={API_KEY}"
    shown.error(lambda: cogdex.build_from_stac(dead, COLLECTION, name="dead", **common))
    missing = f"{stac_api.url}/no-api-here?api_key={API_KEY}"
    shown.error(lambda: cogdex.build_from_stac(missing, COLLECTION, name="missing", **common))
    over_http = f"{stac_files.base_url}/items.json?token={TOKEN}"
    shown.error(lambda: cogdex.build_from_stac(over_http, name="http", **common))
    tiff = _hrefs(static)[-1].replace("http://", f"http://user:{PASSWORD}@")
    shown.error(lambda: runtime.run(read_header(tiff)))

    # The CLI: a build with the key, then everything that lists or describes collections.
    cache_arg = ("--cache-dir", str(cache))
    build = ("collections", "build", "--stac", keyed, "--collection", COLLECTION)
    assert shown.cli(*build, "--name", "cli", "--bands", "B04", *cache_arg) == 0
    assert shown.cli("collections", "list", *cache_arg) == 0
    assert shown.cli("collections", "list", "--json", *cache_arg) == 0
    for name in ("api", "static", "s3", "azure", "cli"):
        assert shown.cli("collections", "info", name, *cache_arg) == 0
        assert shown.cli("collections", "info", name, "--json", *cache_arg) == 0
    target = str(exports / "cli.parquet")
    assert shown.cli("collections", "export", "cli", target, *cache_arg) == 0
    assert shown.cli("inspect", tiff) == 1
    assert shown.cli("inspect", f"{stac_files.base_url}/items.json?token={TOKEN}") == 1

    shown.texts += [caplog.text, *(r.getMessage() for r in caplog.records)]
    shown.texts += [str(w.message) for w in recwarn]
    written = [p for folder in (cache, exports) for p in folder.rglob("*") if p.is_file()]
    assert len(written) >= 10
    for secret in (API_KEY, PASSWORD, SIGNATURE, TOKEN, S3_SECRET, SAS, BEARER, azure_server.key):
        for path in written:
            assert secret.encode() not in path.read_bytes(), (secret, path)
        for text in shown.texts:
            assert secret not in text, (secret, text)


def test_an_index_written_before_the_rule_shows_no_secret():
    """Metadata read from an older index is made safe on load, so a repr, the CLI and an
    export of it never pass its credentials on."""
    from cogdex.index.schema import IndexMetadata

    doc = {
        "schema_version": 1,
        "name": "old",
        "bands": {"B04": {"asset": "red", "band_index": 0}},
        "source": {"type": "stac-api", "url": f"https://h/stac?api_key={API_KEY}"},
        "skipped": [
            {"id": "a", "asset": "red", "href": f"https://u:{PASSWORD}@h/a.tif", "reason": "x"}
        ],
    }
    meta = IndexMetadata.from_json(json.dumps(doc).encode(), "old.parquet")
    assert meta.source["url"] == "https://h/stac" and meta.skipped[0]["href"] == "https://h/a.tif"
    assert API_KEY not in meta.to_json().decode() and PASSWORD not in repr(meta)


def test_http_credentials_come_from_store_options_and_stay_there(scenes, stac_files, tmp_path):
    """What a user:password@ href would have carried goes in a header: the build reads with
    it, the index never holds it, and without it the reads are refused, never anonymous."""
    server = RangeServer(scenes.root, tmp_path / "auth.log", handler=_BasicAuth).start()
    try:
        doc = _items(stac_files, lambda h, _: h.replace(stac_files.base_url, server.url))
        items = _write(tmp_path / "inputs", "auth.json", doc)
        auth = {"client_options": {"default_headers": {"Authorization": BASIC}}}
        kwargs: dict[str, Any] = {"bands": ["B04"], "cache_dir": tmp_path / "cache"}
        coll = cogdex.build_from_stac(items, name="auth", store_options=auth, **kwargs)
        assert len(coll) == 8 and BASIC not in repr(coll.metadata)
        href = _hrefs(coll)[0]
        assert runtime.run(read_header(href, options=auth)).base.width > 0
        with pytest.raises(AccessDeniedError):
            runtime.run(read_header(href))
        index = Path(str(coll.location))
        assert index.is_file() and BASIC.encode() not in index.read_bytes()
        with pytest.raises(CogdexError, match="AccessDeniedError"):
            cogdex.build_from_stac(items, name="anonymous", **kwargs)
    finally:
        server.close()


def test_a_table_with_credential_hrefs_is_never_written(stac_files, tmp_path):
    """`as_collection` takes any table; its hrefs with credentials never reach an index."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from cogdex.errors import ExportError

    coll = cogdex.build_from_stac(stac_files.items_json, name="t", bands=["B04"], cache=False)
    table = coll.to_arrow()
    assets = table.column("assets").combine_chunks()
    red = assets.field(ASSET)
    hrefs = pc.replace_substring(red.field("href"), "http://", f"http://user:{PASSWORD}@")
    children = [hrefs if f.name == "href" else red.field(f.name) for f in red.type]
    red = pa.StructArray.from_arrays(children, fields=list(red.type))
    assets = pa.StructArray.from_arrays([red], fields=list(assets.type))
    odd = cogdex.as_collection(
        table.set_column(table.schema.get_field_index("assets"), "assets", assets)
    )
    with pytest.raises(ExportError, match="store_options") as info:
        odd.export(tmp_path / "odd.parquet")
    assert PASSWORD not in str(info.value) and not list(tmp_path.iterdir())


def test_store_options_of_an_older_index_are_made_safe_when_read():
    """An index written before the rule kept `endpoint="https://user:pass@host"`: reading it
    drops the option, so `collections info`, reprs and exports never pass it on."""
    import json

    from cogdex.index import schema as S

    endpoint = f"https://user:{PASSWORD}@minio:9000"
    doc = {"schema_version": 2, "name": "old", "bands": {}, "source": {},
           "store_options": {"endpoint": endpoint, "region": "x"}}  # fmt: skip
    meta = S.IndexMetadata.from_json(json.dumps(doc).encode(), "old.parquet")
    assert meta.store_options == {"region": "x"}
    assert PASSWORD not in meta.to_json().decode()
