"""Runs a how-to guide of docs/how-to as a user would: its Python blocks in order, in one
namespace, against the suite's local servers.

The guides name real-looking endpoints; `PLACEHOLDERS` maps each to the fixture that stands
in for it, and the guide's text is rewritten before it runs (docs/README.md documents the
table). Only the fixtures a guide names are started. A block right after
`<!-- not run: why -->` is shown but not run; `MAX_NOT_RUN` keeps that rare.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cogdex import plugins
from cogdex.io.stores import stores

GUIDES = Path(__file__).parents[2] / "docs" / "how-to"
NOT_RUN = re.compile(r"<!-- not run: \S[^>]*-->")
BLOCK = re.compile(r"^(?:(<!--[^\n]*-->)\n)?```python\n(.*?)^```", re.M | re.S)
MAX_NOT_RUN = 1  # per guide

# endpoint in the guides -> (fixture, what of it replaces the endpoint)
PLACEHOLDERS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "https://earth-search.aws.element84.com/v1": ("stac_api", lambda api: api.url),
    "https://data.example.com": ("http_server", lambda server: server.url),
    "s3://my-bucket": ("s3_server", lambda s3: f"s3://{s3.bucket}"),
}


@dataclass(frozen=True)
class Block:
    code: str
    line: int  # of its first line of code in the guide
    runs: bool


def parse(text: str) -> list[Block]:
    """The Python blocks of a Markdown text in order; one after a `not run` comment does not
    run."""
    found = [
        Block(m[2], text.count("\n", 0, m.start(2)) + 1, not (m[1] and NOT_RUN.fullmatch(m[1])))
        for m in BLOCK.finditer(text)
    ]
    assert len(found) == text.count("```python"), "a python block the harness misses"
    return found


def blocks(name: str) -> list[Block]:
    """The Python blocks of docs/how-to/`name`."""
    return parse((GUIDES / name).read_text())


def run(
    name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, Any]:
    """Run `name`'s blocks in one namespace, in `tmp_path` (working folder, temporary files
    and the build cache), with its placeholders pointing at the local servers; the namespace
    after the last block."""
    found = blocks(name)
    text = "\n".join(b.code for b in found)
    urls = {
        placeholder: value(request.getfixturevalue(fixture))
        for placeholder, (fixture, value) in PLACEHOLDERS.items()
        if placeholder in text
    }
    if "s3://my-bucket" in urls:  # credentials and endpoint as a user's environment holds them
        for key, env in request.getfixturevalue("s3_server").env.items():
            monkeypatch.setenv(key, env)
    monkeypatch.setenv("COGDEX_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    stores().clear()  # stores made under another test's environment
    before = set(plugins.plugin_manager().get_plugins())
    scope: dict[str, Any] = {"__name__": "__guide__"}
    try:
        for block in found:
            if block.runs:
                code = "\n" * (block.line - 1) + block.code  # tracebacks show the guide's lines
                for placeholder, url in urls.items():
                    code = code.replace(placeholder, url)
                exec(compile(code, f"docs/how-to/{name}", "exec"), scope)
    finally:  # a guide that stopped half-way leaves no plugin or store behind
        for plugin in set(plugins.plugin_manager().get_plugins()) - before:
            plugins.unregister(plugin)
        stores().clear()
    return scope
