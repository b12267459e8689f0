"""docs/plugins.md documents every hook of cogdex.hookspecs, and its examples, registered as a
plugin, do what the text says."""

from __future__ import annotations

import ast
import re
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import cogdex
from cogdex import hookspecs, plugins
from cogdex.errors import UnknownDatasetError
from cogdex.io.stores import build_store
from cogdex.io.urls import parse_url

DOC = Path(__file__).parents[2] / "docs" / "plugins.md"
MARK = "<!-- runs in tests/adapters/test_plugin_docs.py -->"


def _hooks() -> list[str]:
    """The functions hookspecs.py declares with `@hookspec`, read from its source."""
    tree = ast.parse(Path(hookspecs.__file__).read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(ast.unparse(d).startswith("hookspec") for d in node.decorator_list)
    ]


def test_every_hook_has_a_section():
    hooks = _hooks()
    assert set(hooks) == {name for name in vars(hookspecs) if name.startswith("cogdex_")}
    sections = re.findall(r"^#+ `(\w+)`", DOC.read_text(), re.M)
    missing = [hook for hook in hooks if hook not in sections]
    assert not missing, f"docs/plugins.md has no section for {missing}"


def test_the_examples_make_a_working_plugin(adapter_coll, stac_files, monkeypatch):
    blocks = re.findall(re.escape(MARK) + r"\n```python\n(.*?)```", DOC.read_text(), re.S)
    scope: dict = {}
    for block in blocks:
        exec(block, scope)
    hooks = {name: scope[name] for name in _hooks()}
    assert len(blocks) == len(hooks)  # one example per hook
    plugin = types.SimpleNamespace(**hooks)  # what a module with these functions is to pluggy
    plugins.register(plugin, name="docs-example")
    try:
        assert plugins.dataset("survey/field-plots").bands == {"red": "red", "nir": "nir"}

        ours = parse_url("https://data.field-survey.example/plots/a.tif")
        assert plugins.store_spec(ours, {}) is None  # no key in the environment: pass
        monkeypatch.setenv("FIELD_SURVEY_KEY", "k-123")
        spec = plugins.store_spec(ours, {"client_options": {"timeout": "20s"}})
        assert spec is not None and spec.root == ours.root
        assert spec.client_options["default_headers"] == {"X-Api-Key": "k-123"}
        assert spec.client_options["timeout"] == "20s"  # the user's options are kept
        assert "k-123" not in repr(spec)
        build_store(spec)  # obstore takes the header
        assert plugins.store_spec(parse_url("https://elsewhere.example/a.tif"), {}) is None

        boxes = adapter_coll.to_arrow().column("bbox").to_pylist()
        xmin, ymin, xmax, ymax = adapter_coll.to("extent")
        assert all(xmin <= b["xmin"] and b["xmax"] <= xmax for b in boxes)
        assert all(ymin <= b["ymin"] and b["ymax"] <= ymax for b in boxes)
        assert {xmin, xmax} <= {b[k] for b in boxes for k in ("xmin", "xmax")}
        assert "extent" in plugins.adapter_names()

        with ThreadPoolExecutor(2) as pool:
            args = {"name": "pool", "bands": ["B04"], "cache": False}
            pooled = cogdex.build_from_stac(stac_files.items_json, **args, client=pool)
        assert pooled.to_arrow().equals(
            cogdex.build_from_stac(stac_files.items_json, **args).to_arrow()
        )

        points = (np.linspace(77.9, 78.1, 400), np.linspace(19.9, 20.1, 400))
        with ThreadPoolExecutor(2) as pool:
            sampled = adapter_coll.sample_points(points, ["B04", "B08"], client=pool)
        local = adapter_coll.sample_points(points, ["B04", "B08"])
        assert sampled.num_rows > 0 and sampled.equals(local)
    finally:
        plugins.unregister(plugin)
    with pytest.raises(UnknownDatasetError):
        plugins.dataset("survey/field-plots")
