"""A lab data folder with many STAC items whose COGs are links to the lab's real scenes.

The build-rate scenario needs ~1,000 distinct COG URLs; fetching headers costs the same for
a linked file as for a copy, so each new item's assets are symlinks to an existing scene's
files (distinct URLs, real 10980 px COGs with 1024 px tiles and overviews), with new ids and
dates.

    uv run python benchmarks/make_many_items.py /tmp/labdata/big /tmp/labdata/many --items 250
    uv run python benchmarks/run.py index-build-all --data /tmp/labdata/many --rtt 20
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("source", type=Path, help="a make_scenes.py folder (items.json, scenes/)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--items", type=int, default=250)
    a = ap.parse_args()
    src = json.loads((a.source / "items.json").read_text())["features"]
    out_items = []
    for n in range(a.items):
        item = copy.deepcopy(src[n % len(src)])
        old_id = item["id"]
        item["id"] = f"{old_id}_{n:04d}"
        when = dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=n)
        item["properties"]["datetime"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        folder = a.out / "scenes" / item["id"]
        folder.mkdir(parents=True, exist_ok=True)
        for asset in item["assets"].values():
            name = asset["href"].rsplit("/", 1)[1]
            target = (a.source / "scenes" / old_id / name).resolve()
            if not target.exists():
                continue
            link = folder / name
            if not link.exists():
                os.symlink(target, link)
            asset["href"] = asset["href"].replace(f"/scenes/{old_id}/", f"/scenes/{item['id']}/")
        out_items.append(item)
    (a.out / "items.json").write_text(json.dumps({"type": "FeatureCollection",
                                                  "features": out_items}))  # fmt: skip
    for extra in ("collection.json", "manifest.json"):
        if (a.source / extra).exists():
            (a.out / extra).write_text((a.source / extra).read_text())
    print(f"{len(out_items)} items in {a.out}")


if __name__ == "__main__":
    main()
