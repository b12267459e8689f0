"""Start and stop the team's cloud-emulation lab (../shared/lab) for the scenario benchmarks.

The lab runs nginx (HTTP Range), moto S3, Azurite and a STAC API on fixed loopback ports,
optionally behind a proxy that adds round-trip time. Benchmarks only: the test suite starts
its own servers and never needs ../shared.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB_DIR = Path(os.environ.get("COGDEX_LAB_DIR", REPO.parent / "shared" / "lab"))
LAB_HOME = Path(os.environ.get("LAB_HOME", "/tmp/lab"))
LAB_RUN = Path(os.environ.get("LAB_RUN", LAB_HOME / "run"))
"""A second lab beside the team's: another LAB_RUN and LAB_PORT_HTTP/_STAC/_S3/_AZURE
(up.sh reads them; asset hrefs follow the HTTP port), so two benchmarks never stop each
other's servers."""


def _parse_env_sh(path: Path) -> dict[str, str]:
    """The variables `env.sh` exports (it only has `export A=... B=...` lines)."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            for item in shlex.split(line[len("export ") :]):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def running_env() -> dict[str, str] | None:
    """The lab's variables if a lab is up, else None."""
    if list(LAB_RUN.glob("*.pid")) and (LAB_RUN / "env.sh").exists():
        return _parse_env_sh(LAB_RUN / "env.sh")
    return None


@contextmanager
def lab(data_dir: Path, rtt_ms: int, services: str = "http stac") -> Iterator[dict[str, str]]:
    """A running lab over `data_dir` with `rtt_ms` of added round trip; stopped on exit.

    Needs `bash ../shared/lab/setup.sh --peer` once (venvs, nginx, Azurite, rasteret).
    """
    env = {
        **os.environ,
        "LAB_HOME": str(LAB_HOME),
        "LAB_RUN": str(LAB_RUN),
        "LAB_RTT_MS": str(rtt_ms),
        "LAB_SERVICES": services,
        "LAB_UPLOAD": "0",
    }
    if running_env() is not None:
        subprocess.run(["bash", str(LAB_DIR / "down.sh")], env=env, check=True, capture_output=True)
    subprocess.run(
        ["bash", str(LAB_DIR / "up.sh"), str(data_dir)], env=env, check=True, capture_output=True
    )
    try:
        yield {**os.environ, **_parse_env_sh(LAB_RUN / "env.sh")}
    finally:
        subprocess.run(["bash", str(LAB_DIR / "down.sh")], env=env, capture_output=True)


def nginx_traffic(env: dict[str, str]) -> tuple[int, int]:
    """Requests nginx has logged so far and the body bytes it sent (the lab's HTTP server
    logs every request, in the combined format: `... "GET ..." status bytes ...`)."""
    log = Path(env["LAB_RUN"]) / "nginx_access.log"
    if not log.exists():
        return 0, 0
    requests = sent = 0
    with log.open("rb") as f:
        for line in f:
            requests += 1
            fields = line.split(b'" ', 1)[-1].split(b" ")
            if len(fields) > 1 and fields[1].isdigit():
                sent += int(fields[1])
    return requests, sent
