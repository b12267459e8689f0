"""A real STAC API: stac-fastapi-geoparquet (DuckDB via rustac) serving items.parquet.

It supports bbox, datetime, ids, collections, CQL2 `filter`, sortby and paging. The older
`query` extension (`{"eo:cloud_cover": {"lt": 20}}`, what pystac-client's `query=` sends) is
not in stac-fastapi-geoparquet, so `QueryToFilter` rewrites it into the equivalent CQL2
filter. DuckDB's spatial/icu/parquet extensions come from the pinned `duckdb-extension-*`
wheels (the version rustac's embedded DuckDB wants), laid out as DuckDB's extension
directory, so nothing is downloaded at run time.

Run as `python -m tests.servers.stac_api PARQUET --port N --ext-dir DIR` (what `start_stac_api`
does).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tests.servers.process import ServerProcess, free_port, http_status

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_EXTENSIONS = ("spatial", "icu", "parquet")
_PLATFORMS = {
    ("Linux", "x86_64"): "linux_amd64",
    ("Linux", "aarch64"): "linux_arm64",
    ("Darwin", "arm64"): "osx_arm64",
    ("Darwin", "x86_64"): "osx_amd64",
}
_OPS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


@dataclass(frozen=True)
class StacApi:
    url: str
    process: ServerProcess


def query_to_cql2(query: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """STAC Query extension object -> CQL2-JSON."""
    args: list[dict[str, Any]] = []
    for prop, conditions in query.items():
        for op, value in conditions.items():
            p = {"property": prop}
            if op in _OPS:
                args.append({"op": _OPS[op], "args": [p, value]})
            elif op == "in":
                args.append({"op": "in", "args": [p, list(value)]})
            elif op in ("startsWith", "endsWith", "contains"):
                pattern = {"startsWith": "{}%", "endsWith": "%{}", "contains": "%{}%"}[op]
                args.append({"op": "like", "args": [p, pattern.format(value)]})
            else:
                raise ValueError(f"unsupported query operator {op!r}")
    return args[0] if len(args) == 1 else {"op": "and", "args": args}


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list):
        return "(" + ", ".join(_literal(v) for v in value) + ")"
    return json.dumps(value)


def cql2_to_text(expr: dict[str, Any]) -> str:
    """CQL2-JSON -> CQL2-text, for the shapes `query_to_cql2` makes (GET /search takes text)."""
    if expr["op"] == "and":
        return " AND ".join(f"({cql2_to_text(a)})" for a in expr["args"])
    prop, value = expr["args"]
    return f'"{prop["property"]}" {expr["op"].upper()} {_literal(value)}'


class QueryToFilter:
    """ASGI middleware: the `query` of /search (GET parameter or POST body) -> CQL2 `filter`.

    The rewrite covers /search only, so only item-search's query conformance class is
    advertised (see `main`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].rstrip("/").endswith("/search"):
            await self.app(scope, receive, send)
        elif scope["method"] == "GET":
            await self.app(self._rewrite_get(scope), receive, send)
        else:
            await self._rewrite_post(scope, receive, send)

    def _rewrite_get(self, scope: Scope) -> Scope:
        params = dict(parse_qsl(scope["query_string"].decode()))
        if "query" not in params:
            return scope
        text = cql2_to_text(query_to_cql2(json.loads(params.pop("query"))))
        if params.get("filter"):
            text = f"({params['filter']}) AND ({text})"
        params.update({"filter": text, "filter-lang": "cql2-text"})
        return {**scope, "query_string": urlencode(params).encode()}

    async def _rewrite_post(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = None  # let the server report the bad JSON
        if isinstance(doc, dict) and doc.get("query"):
            expr = query_to_cql2(doc.pop("query"))
            if doc.get("filter"):
                expr = {"op": "and", "args": [doc["filter"], expr]}
            doc.update({"filter": expr, "filter-lang": "cql2-json"})
            body = json.dumps(doc).encode()
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)


def extension_dir(target: Path) -> Path:
    """Lay the wheels' DuckDB extensions out as DuckDB's extension directory
    (`<dir>/v<version>/<platform>/<name>.duckdb_extension`) with symlinks."""
    plat = _PLATFORMS.get((platform.system(), platform.machine()))
    if plat is None:
        raise RuntimeError(f"no DuckDB platform name for {platform.system()} {platform.machine()}")
    for name in _EXTENSIONS:
        spec = importlib.util.find_spec(f"duckdb_extension_{name}")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(
                f"duckdb-extension-{name} is not installed (a dev dependency): run `uv sync`"
            )
        package = Path(next(iter(spec.submodule_search_locations)))
        for file in package.glob(f"extensions/v*/{name}.duckdb_extension"):
            folder = target / file.parent.name / plat
            folder.mkdir(parents=True, exist_ok=True)
            (folder / file.name).symlink_to(file)
    return target


def start_stac_api(parquet: Path, log_dir: Path) -> StacApi:
    port = free_port()
    ext = extension_dir(log_dir / "duckdb_extensions")
    cmd = [sys.executable, "-m", "tests.servers.stac_api", parquet, "--port", str(port)]
    process = ServerProcess("stac-api", [*cmd, "--ext-dir", ext], log_dir)
    url = f"http://127.0.0.1:{port}"

    def landing_page() -> bool:
        return http_status(f"{url}/") == 200

    process.wait_until(landing_page, f"STAC API landing page at {url}", timeout=60)
    return StacApi(url, process)


def main() -> None:
    parser = argparse.ArgumentParser(description="stac-fastapi-geoparquet for the tests")
    parser.add_argument("parquet", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ext-dir", type=Path, required=True)
    args = parser.parse_args()

    import rustac
    import uvicorn
    from stac_fastapi.geoparquet.api import create
    from stac_fastapi.geoparquet.settings import Settings

    client = rustac.DuckdbClient(extension_directory=str(args.ext_dir), install_extensions=False)
    settings = Settings(
        stac_fastapi_title="cogdex tests",
        stac_fastapi_description="STAC API over the synthetic test scenes",
        stac_fastapi_landing_id="cogdex-tests",
        stac_fastapi_geoparquet_href=str(args.parquet),
    )
    api = create(settings=settings, duckdb_client=client)
    # Advertise what QueryToFilter adds, so clients (pystac-client) do not warn about it.
    api.client.base_conformance_classes = [
        *api.client.base_conformance_classes,
        "https://api.stacspec.org/v1.0.0/item-search#query",
    ]
    uvicorn.run(
        QueryToFilter(api.app), host="127.0.0.1", port=args.port, log_level="info", backlog=1024
    )


if __name__ == "__main__":
    main()
