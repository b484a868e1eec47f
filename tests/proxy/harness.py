"""Real processes for proxy tests: echo upstreams and the proxy itself (`python -m proxy`)."""

from __future__ import annotations

import io
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from ruamel.yaml import YAML

from tests.support.components import process_spec
from tests.support.ports import free_port
from tests.support.processes import ServerProcess
from tests.support.random_refs import random_suffix


@dataclass
class Echo:
    name: str
    url: str
    process: ServerProcess

    def seen(self) -> list[dict[str, Any]]:
        """Requests this upstream received (asked directly, not through the proxy)."""
        resp = httpx.get(f"{self.url}/_seen", timeout=5)
        resp.raise_for_status()
        return list(resp.json())

    def seen_paths(self) -> list[str]:
        return [r["raw_path"] for r in self.seen()]


@contextmanager
def echo_upstream(name: str, log_dir: Path, *options: str) -> Iterator[Echo]:
    port = free_port()
    argv = [sys.executable, "-m", "tests.proxy.echo_upstream", "--name", name, "--port", str(port)]
    with ServerProcess(f"echo-{name}-{port}", [*argv, *options], log_dir=log_dir) as proc:
        url = f"http://127.0.0.1:{port}"
        proc.wait_http_ok(f"{url}/_seen")
        yield Echo(name, url, proc)


def dead_url() -> str:
    """A URL nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


def upstream(url: str, **overrides: Any) -> dict[str, Any]:
    return {"url": url, **overrides}


def route(name: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A route entry for a route file (reads of /api/ by default)."""
    spec: dict[str, Any] = {
        "name": name or f"r-{random_suffix()}",
        "match": {"path_prefix": "/api/", "methods": ["GET", "HEAD"]},
        "mode": "monolith",
    }
    spec.update(overrides)
    return spec


def routes_yaml(upstreams: dict[str, dict[str, Any]], routes: list[dict[str, Any]]) -> str:
    yaml = YAML(typ="safe")
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump({"upstreams": upstreams, "routes": routes}, buffer)
    return "# route file written by a test\n" + buffer.getvalue()


@dataclass
class RunningProxy:
    url: str
    admin_url: str
    token: str
    routes_file: Path
    var: Path
    process: ServerProcess

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return httpx.request(
            method, f"{self.admin_url}{path}", headers=headers, timeout=10, **kwargs
        )

    def admin_json(self, path: str) -> Any:
        resp = self.admin("GET", path)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def stats(self, route_name: str) -> dict[str, Any]:
        return dict(self.admin_json("/admin/stats")["routes"].get(route_name, {}))


def proxy_env(var: Path, routes_file: Path, **extra: str) -> dict[str, str]:
    return {
        "STRANGLER_VAR_DIR": str(var),
        "PROXY_ROUTES_FILE": str(routes_file),
        "PROXY_LISTEN": f"127.0.0.1:{free_port()}",
        "PROXY_ADMIN_LISTEN": f"127.0.0.1:{free_port()}",
        "PROXY_RELOAD_INTERVAL_S": "0.1",
        **extra,
    }


@contextmanager
def running_proxy(
    var: Path,
    routes_text: str | None,
    *,
    token: str | None = None,
    **extra_env: str,
) -> Iterator[RunningProxy]:
    """`python -m proxy` on free ports with ``routes_text`` as its route file."""
    routes_file = var / "routes.yaml"
    if routes_text is not None:
        routes_file.write_text(routes_text, encoding="utf-8")
    token = token if token is not None else f"tok-{random_suffix()}"
    env = proxy_env(var, routes_file, **extra_env)
    if token:
        env["PROXY_ADMIN_TOKEN"] = token
    env.setdefault("PROXY_DIFF_DATABASE_URL", f"sqlite:///{var / 'proxy.sqlite3'}")
    argv = process_spec("proxy").argv  # what the stack runs; the listeners are in ``env``
    proc = ServerProcess(f"proxy-{random_suffix()}", argv, env=env, log_dir=var / "logs")
    with proc:
        admin_url = f"http://{env['PROXY_ADMIN_LISTEN']}"
        proc.wait_http_ok(f"{admin_url}/health")
        if not token:
            token = (var / "admin-token").read_text().strip()
        yield RunningProxy(
            url=f"http://{env['PROXY_LISTEN']}",
            admin_url=admin_url,
            token=token,
            routes_file=routes_file,
            var=var,
            process=proc,
        )


def raw_request(base_url: str, target: str, method: str = "GET") -> tuple[int, bytes]:
    """Send ``target`` exactly as given (HTTP clients normalise dot segments); (status, body)."""
    host_port = base_url.removeprefix("http://")
    host, _, port = host_port.partition(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"{method} {target} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
