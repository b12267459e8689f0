"""The NDVI scenario's indexes: ~450,000 synthetic scenes plus the lab's real ones, for
cogdex and for rasteret 0.3.12 (scenarios/ndvi_common.py).

    uv run python benchmarks/make_ndvi_index.py /tmp/labdata-h8/tg60 /tmp/labdata-h8 --n 450000

Starts a lab over DATA (LAB_RUN / LAB_PORT_*: the ports the benchmark will use, as every href
holds them), builds each tool's index of the real scenes (red and NIR) from its STAC API,
then grows it as make_synthetic_index.py does: synthetic scenes copy real rows (real
headers), with 1 x 1 degree footprints over India (lon 68-88, lat 8-30) and datetimes in
2019-2024, so the farm's box and year select ~200 synthetic rows besides the real ones;
those get a cloud cover of at least the scenario's threshold, which the filter must then
evaluate. The real rows keep everything, so only they pass.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "scenarios"))
from lab import LAB_HOME, lab
from make_synthetic_index import make_cogdex, make_rasteret, scenes
from ndvi_common import BANDS, CLOUD_LT, FARM_LONLAT, YEAR

YEARS = range(2019, 2025)
PEER03 = LAB_HOME / "peer03" / "bin" / "python"
RASTERET_BUILD = """
import os, sys, warnings
warnings.simplefilter("ignore")
import rasteret
from obstore.store import HTTPStore
from rasteret.cloud import ObstoreBackend
from rasteret.fetch.cog import _OBSTORE_CLIENT_OPTIONS
base = os.environ["LAB_HTTP_URL"] + "/"
options = {**_OBSTORE_CLIENT_OPTIONS, "allow_http": True}
backend = ObstoreBackend(HTTPStore.from_url(base, client_options=options), url_prefix=base)
rasteret.build_from_stac(name="ndvi", stac_api=os.environ["LAB_STAC_URL"],
    collection="sentinel-2-l2a", bbox=(77.0, 19.0, 79.0, 21.0), date_range=("2024-01-01",
    "2024-12-31"), workspace_dir=sys.argv[1], backend=backend, force=True)
"""


def synthetic(n: int) -> dict[str, np.ndarray]:
    s = scenes(n, lon=(68, 88), lat=(8, 30), years=YEARS)
    lon, lat = s["lon"], s["lat"]
    farm = shapely.box(*FARM_LONLAT)
    meets = shapely.intersects(shapely.box(lon, lat, lon + 1, lat + 1), farm)
    in_year = s["when"] >= np.datetime64(YEAR[0])
    clash = meets & in_year
    s["cloud"][clash] = np.random.default_rng(7).uniform(CLOUD_LT, 100, int(clash.sum()))
    print(f"{int(meets.sum())} synthetic scenes meet the farm, {int(clash.sum())} in its year")
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", type=Path, help="the lab data folder the benchmark serves")
    ap.add_argument("out", type=Path)
    ap.add_argument("--n", type=int, default=450_000)
    a = ap.parse_args()
    seeds = a.out / "ndvi-seeds"
    with lab(a.data.resolve(), 0) as env:
        import cogdex

        os.environ.update(env)
        cogdex.build_from_stac(
            env["LAB_STAC_URL"], "sentinel-2-l2a", name="ndvi", bands=list(BANDS),
            bbox=(77.0, 19.0, 79.0, 21.0), date_range=("2024-01-01", "2024-12-31"),
            cache_dir=seeds / "cogdex", force=True,
        )  # fmt: skip
        code = RASTERET_BUILD
        subprocess.run([str(PEER03), "-c", code, str(seeds / "rasteret")], env=env, check=True)
    s = synthetic(a.n)
    make_cogdex(seeds / "cogdex", a.out / "ndvi450k-cogdex", s, YEARS, real=True)
    subprocess.run(
        [str(PEER03), __file__, "--rasteret", str(seeds / "rasteret"), str(a.out), str(a.n)],
        check=True,
    )


if __name__ == "__main__" and sys.argv[1:2] == ["--rasteret"]:
    # Run again under the peer's Python: rasteret's seed rows are written by its own pyarrow.
    seed, out, n = sys.argv[2:5]
    make_rasteret(Path(seed), Path(out) / "ndvi450k-rasteret", synthetic(int(n)), YEARS, True)
elif __name__ == "__main__":
    main()
