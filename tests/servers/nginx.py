"""nginx serving a directory with Range support: as production-like as a static server gets.
Without nginx, the tests use `cogdex.testing.RangeServer` in its place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tests.servers.process import ServerProcess, free_port


@dataclass(frozen=True)
class Nginx:
    """nginx serving `root` with Range support; logs under `log_dir`."""

    url: str
    root: Path
    log_dir: Path
    process: ServerProcess

    @property
    def access_log(self) -> Path:
        return self.log_dir / "nginx_access.log"

    def close(self) -> None:
        self.process.stop()


def start_nginx(executable: str, root: Path, log_dir: Path) -> Nginx:
    """Start nginx in the foreground with a config written to `log_dir`."""
    port = free_port()
    temp = log_dir / "nginx_tmp"
    temp.mkdir(exist_ok=True)
    # As root, workers would switch to `nobody`, who cannot read pytest's 0700 temp dirs.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = log_dir / "nginx.conf"
    conf.write_text(f"""
{user}
daemon off;
worker_processes 2;
pid {log_dir}/nginx.pid;
error_log {log_dir}/nginx_error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log {log_dir}/nginx_access.log;
  sendfile on; tcp_nodelay on; keepalive_requests 100000; keepalive_timeout 120;
  types {{ application/json json; }}
  default_type application/octet-stream;
  client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
  uwsgi_temp_path {temp}; scgi_temp_path {temp};
  server {{ listen 127.0.0.1:{port}; root {root.resolve()}; autoindex on; }}
}}
""")
    process = ServerProcess(
        "nginx", [executable, "-c", conf, "-p", log_dir, "-e", log_dir / "nginx_error.log"], log_dir
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_http(f"{url}/", timeout=20)
    return Nginx(url, root, log_dir, process)
