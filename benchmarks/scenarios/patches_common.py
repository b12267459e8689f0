"""Patch baseline (rasteret's Hugging Face table): what both candidates share.

The patches are make_patches.py's (PATCHES_DIR); a run wants `--n` of them, a fixed random
choice of keys. Both candidates return them in key order, as uint16 arrays.
"""

from __future__ import annotations

import argparse
import json
import os
import random
from pathlib import Path

PATCHES = Path(os.environ.get("PATCHES_DIR", "/tmp/labdata-h8/patches"))


def wanted() -> tuple[list[str], dict[str, dict]]:
    """The keys this run reads (sorted) and every patch's metadata."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    n = ap.parse_args().n
    meta = json.loads((PATCHES / "patches.json").read_text())
    return sorted(random.Random(0).sample(sorted(meta), n)), meta
