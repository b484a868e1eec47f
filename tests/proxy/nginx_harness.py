"""Debian's nginx as a test process: started in the foreground from an exported route table,
everything it writes (pid, logs, temp files) under the test's own folder."""

from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.processes import ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def main_conf(prefix: Path, exported: Path) -> str:
    """nginx.conf around the exported file: one process (no user switch, no daemon), paths in
    ``prefix``, many requests per client connection (the agreement test pipelines)."""
    temp = {name: prefix / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    return f"""daemon off;
master_process off;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {exported};
}}
"""


@contextmanager
def running_nginx(prefix: Path, exported: Path, port: int) -> Iterator[ServerProcess]:
    """nginx serving ``exported`` (rendered to listen on ``port``) until the block ends."""
    prefix.mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(main_conf(prefix, exported), encoding="utf-8")
    argv = [NGINX, "-p", str(prefix), "-c", str(conf)]
    with ServerProcess(f"nginx-{random_suffix()}", argv, log_dir=prefix / "logs") as proc:

        def listening() -> bool:
            if not proc.alive():
                error_log = (prefix / "error.log").read_text(errors="replace")
                raise RuntimeError(f"nginx exited:\n{proc.log_tail()}\n{error_log}")
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True

        wait_for(listening, timeout=20, message=f"nginx on port {port}")
        yield proc
