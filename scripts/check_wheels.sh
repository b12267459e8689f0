#!/usr/bin/env bash
# The README's "Install" commands, run as a user would: build every distribution's wheel,
# pip-install cogdex with two extras into a fresh virtual environment, run the demo there.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
uv build --all-packages --wheel -o "$work/dist" -q
# Every package in a wheel ships its py.typed marker (PEP 561): without it, users' type
# checkers ignore its annotations.
python3 - "$work"/dist/*.whl <<'PY'
import sys
import zipfile

for wheel in sys.argv[1:]:
    names = zipfile.ZipFile(wheel).namelist()
    packages = {n.split("/")[0] for n in names if n.endswith("/__init__.py")}
    untyped = sorted(p for p in packages if f"{p}/py.typed" not in names)
    if untyped:
        sys.exit(f"{wheel}: no py.typed in {', '.join(untyped)}")
PY
python3 -m venv "$work/env"
"$work/env/bin/pip" install -q --find-links "$work/dist" "cogdex[xarray,aws]"
# (to a file: `| grep -q` would stop reading at the match, and pipefail fail on the SIGPIPE)
"$work/env/bin/cogdex" plugins > "$work/plugins.txt"
grep -q "^xarray" "$work/plugins.txt" || { echo "xarray plugin missing" >&2; exit 1; }
(cd "$work" && "$work/env/bin/cogdex" demo --quiet --size 256 > "$work/demo.txt")
cat "$work/demo.txt"
# Without cogdex[torchgeo] the demo names the extra, and writes its PNG all the same.
grep -qF 'torchgeo     skipped (pip install "cogdex[torchgeo]")' "$work/demo.txt"
test -s "$work/cogdex-demo.png"
echo "wheels: pip install --find-links dist \"cogdex[xarray,aws]\" works"
