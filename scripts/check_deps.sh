#!/usr/bin/env bash
# Each distribution's declared dependencies match what its code imports (deptry, run from the
# distribution's folder so it reads that pyproject.toml and its [tool.deptry]): nothing
# declared and unused, nothing imported and undeclared or only there transitively.
# Exits non-zero if any distribution has findings; all are checked first.
set -euo pipefail
cd "$(dirname "$0")/.."
failed=()
for dist in packages/*/ tests/plugins/*/; do
  (cd "$dist" && uv run --no-sync deptry src) || failed+=("$dist")
done
if ((${#failed[@]})); then
  echo "dependency findings in: ${failed[*]}" >&2
  exit 1
fi
echo "deps: every distribution declares what it imports"
