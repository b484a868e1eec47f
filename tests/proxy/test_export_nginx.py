"""Real nginx (Debian's package) started from `strangler routes export nginx`, in front of echo
upstreams: it sends every client key to the side our proxy sends it to, and keeps the table's
routing, fallback and header hygiene."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from multidict import CIMultiDict

from proxy.config import parse_route_table
from proxy.routing import RequestFacts, Router
from tests.proxy.harness import Echo, dead_url, route, routes_yaml, running_proxy, upstream
from tests.proxy.nginx_harness import running_nginx
from tests.support.ports import free_port
from tests.support.processes import REPO_ROOT, VENV_BIN

#: Canary routes of one table, one per percentage: one nginx serves them all.
PERCENTS = (0.01, 10, 33.33, 50, 99.99)
KEYS = [f"client-{n}" for n in range(10_000)]
COOKIE_KEYS = KEYS[:1000]


def canary(name: str, percent: float, sticky: str) -> dict[str, object]:
    return route(
        name,
        match={"path_prefix": f"/api/{name}/", "methods": ["GET", "HEAD"]},
        mode="canary",
        target="inventory",
        percent=percent,
        sticky=sticky,
    )


def table_text(monolith: Echo, inventory: Echo) -> str:
    routes = [canary(f"c{n}", p, "header:X-Client-Id") for n, p in enumerate(PERCENTS)]
    routes += [
        canary("by-cookie", 50, "cookie:session_id"),
        route(
            "extracted-reads",
            match={"path_prefix": "/api/moved/", "methods": ["GET", "HEAD"]},
            mode="extracted",
            target="gone",
            fallback="monolith",
        ),
        route(
            "extracted-writes",
            match={"path_prefix": "/api/moved/", "methods": ["POST"]},
            mode="extracted",
            target="gone",
            fallback="monolith",
        ),
        route(
            "beta",
            match={"path_prefix": "/api/shop/", "headers": {"X-Beta": "1"}},
            mode="extracted",
            target="inventory",
        ),
        route("shop", match={"path_prefix": "/api/shop/"}, mode="monolith"),
        route(
            "cancel",
            match={"path_pattern": "/api/shop/{id:[0-9]+}/cancel/"},
            mode="extracted",
            target="inventory",
        ),
        route("health", match={"path": "/api/health/"}, mode="extracted", target="inventory"),
    ]
    upstreams = {
        "monolith": upstream(monolith.url),
        "inventory": upstream(inventory.url),
        "gone": upstream(dead_url(), timeout_s=2),
    }
    return routes_yaml(upstreams, routes)


def export(routes_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(VENV_BIN / "strangler"), "routes", "export", *args, "-f", str(routes_file)]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


@dataclass
class Nginx:
    url: str
    port: int
    routes_file: Path


@pytest.fixture(scope="module")
def nginx(
    tmp_path_factory: pytest.TempPathFactory, monolith: Echo, inventory: Echo
) -> Iterator[Nginx]:
    folder = tmp_path_factory.mktemp("nginx")
    routes_file = folder / "routes.yaml"
    routes_file.write_text(table_text(monolith, inventory), encoding="utf-8")
    port = free_port()
    exported = folder / "strangler.conf"
    done = export(routes_file, "nginx", "--listen", f"127.0.0.1:{port}", "-o", str(exported))
    assert done.returncode == 0, done.stderr
    with running_nginx(folder / "prefix", exported, port):
        yield Nginx(f"http://127.0.0.1:{port}", port, routes_file)


def pipelined_upstreams(port: int, requests: list[bytes]) -> list[str]:
    """Send ``requests`` on one connection, all at once, and read each answer's upstream (the
    echo's JSON ``upstream``) in order. nginx answers pipelined requests in order."""
    sides: list[str] = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"".join(requests))
        buffer = b""
        while len(sides) < len(requests):
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                chunk = sock.recv(1 << 20)
                assert chunk, f"nginx closed the connection after {len(sides)} answers"
                buffer += chunk
                continue
            head = buffer[:head_end].decode("latin-1")
            length = next(
                int(line.split(":", 1)[1])
                for line in head.split("\r\n")
                if line.lower().startswith("content-length:")
            )
            end = head_end + 4 + length
            while len(buffer) < end:
                buffer += sock.recv(1 << 20)
            assert head.startswith("HTTP/1.1 200"), head
            sides.append(json.loads(buffer[head_end + 4 : end])["upstream"])
            buffer = buffer[end:]
    return sides


def get(path: str, header: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{header}\r\n\r\n".encode()


def our_side(router: Router, path: str, headers: dict[str, str]) -> str:
    """Our proxy's choice, from the very method its hot path calls."""
    decision = router.decide(RequestFacts("GET", path, CIMultiDict(headers), "127.0.0.1"))
    assert decision.primary is not None
    return decision.primary


def test_nginx_sends_every_key_where_our_proxy_does(nginx: Nginx) -> None:
    router = Router(parse_route_table(nginx.routes_file.read_text()))
    batches: list[tuple[str, list[str], list[bytes]]] = []
    for n in range(len(PERCENTS)):
        path = f"/api/c{n}/items/"
        for start in range(0, len(KEYS), 2500):
            keys = KEYS[start : start + 2500]
            batches.append(
                (path, keys, [get(path, f"X-Client-Id: {key}") for key in keys]),
            )
    cookie_path = "/api/by-cookie/items/"
    batches.append(
        (
            cookie_path,
            COOKIE_KEYS,
            [get(cookie_path, f"Cookie: theme=dark; session_id={key}") for key in COOKIE_KEYS],
        )
    )
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda b: pipelined_upstreams(nginx.port, b[2]), batches))

    disagreements = []
    compared = 0
    for (path, keys, _), sides in zip(batches, answers, strict=True):
        header = "Cookie" if path == cookie_path else "X-Client-Id"
        for key, side in zip(keys, sides, strict=True):
            value = f"session_id={key}" if header == "Cookie" else key
            compared += 1
            if side != our_side(router, path, {header: value}):
                disagreements.append((path, key, side))
    assert compared == len(PERCENTS) * len(KEYS) + len(COOKIE_KEYS)
    assert disagreements == []
    # The split is real: 33.33% of the keys went to the canary, give or take the hash.
    canary = sum(
        sides.count("inventory")
        for (path, _, _), sides in zip(batches, answers, strict=True)
        if path == "/api/c2/items/"
    )
    assert 3000 < canary < 3700


def test_a_request_without_the_key_falls_back_to_the_address(nginx: Nginx) -> None:
    router = Router(parse_route_table(nginx.routes_file.read_text()))
    for n in range(len(PERCENTS)):
        path = f"/api/c{n}/items/"
        sides = pipelined_upstreams(nginx.port, [get(path, "X-Other: 1")])
        assert sides == [our_side(router, path, {})]


def test_the_real_proxy_agrees_on_a_sample(
    nginx: Nginx, tmp_path: Path, monolith: Echo, inventory: Echo
) -> None:
    """A few hundred keys through the running proxy tie the function above to the process."""
    text = nginx.routes_file.read_text()
    sample = KEYS[::40]
    with running_proxy(tmp_path, text) as proxy, httpx.Client(base_url=proxy.url) as client:
        for n in (1, 3):
            path = f"/api/c{n}/items/"
            ours = [
                client.get(path, headers={"X-Client-Id": key}).json()["upstream"] for key in sample
            ]
            theirs = pipelined_upstreams(
                nginx.port, [get(path, f"X-Client-Id: {key}") for key in sample]
            )
            assert ours == theirs
            assert set(ours) == {"monolith", "inventory"}


def test_export_is_deterministic_and_check_lists_nothing_here(nginx: Nginx) -> None:
    first = export(nginx.routes_file, "nginx", "--listen", str(nginx.port))
    second = export(nginx.routes_file, "nginx", "--listen", str(nginx.port))
    assert first.returncode == 0 and first.stdout == second.stdout
    assert "split_clients" in first.stdout
    check = export(nginx.routes_file, "--check", "nginx")
    assert (check.returncode, check.stdout) == (0, "")


def test_routing_fallback_and_hygiene_through_nginx(nginx: Nginx) -> None:
    with httpx.Client(base_url=nginx.url, timeout=10) as client:
        # A read falls back to the monolith when the extracted target is down; a write does not.
        read = client.get("/api/moved/x")
        assert (read.status_code, read.json()["upstream"]) == (200, "monolith")
        assert client.post("/api/moved/x", content=b"{}").status_code == 502
        # Header-conditioned route first, then the plain one; pattern beats the prefix; exact.
        assert client.get("/api/shop/1/", headers={"X-Beta": "1"}).json()["upstream"] == "inventory"
        assert client.get("/api/shop/1/").json()["upstream"] == "monolith"
        assert client.get("/api/shop/12/cancel/").json()["upstream"] == "inventory"
        assert client.get("/api/shop/ab/cancel/").json()["upstream"] == "monolith"
        assert client.get("/api/health/").json()["upstream"] == "inventory"
        # A write's body survives the jump to the route's named location.
        write = client.post("/api/shop/1/", content=b'{"qty": 3}')
        assert (write.json()["method"], write.json()["body"]) == ("POST", '{"qty": 3}')
        # Nothing routes these: 404 from nginx itself, and /internal/ is never forwarded.
        assert client.get("/elsewhere/").status_code == 404
        assert client.get("/internal/outbox/stats").status_code == 404
        # A method the routes do not name is not forwarded either.
        assert client.post("/api/c0/items/").status_code == 404

        answer = client.get(
            "/api/shop/1/?q=1",
            headers={
                "X-Forwarded-For": "6.6.6.6",
                "X-Real-IP": "6.6.6.6",
                "Forwarded": "for=6.6.6.6",
                "True-Client-IP": "6.6.6.6",
                "X-Strangler-Dry-Run": "1",
                "Proxy-Authorization": "Basic eA==",
                "X-Request-Id": "req-42",
            },
        )
    sent = {name.lower(): value for name, value in answer.json()["headers"]}
    assert answer.json()["raw_path"] == "/api/shop/1/?q=1"
    assert sent["x-forwarded-for"] == "127.0.0.1"
    assert sent["x-real-ip"] == "127.0.0.1"
    assert sent["x-request-id"] == "req-42"
    for dropped in ("forwarded", "true-client-ip", "x-strangler-dry-run", "proxy-authorization"):
        assert dropped not in sent
    assert answer.headers["X-Strangler-Upstream"] == "monolith"
    assert answer.headers["X-Strangler-Route"] == "shop"
    assert answer.headers["X-Request-Id"] == "req-42"


def test_check_lists_what_nginx_cannot_express(tmp_path: Path) -> None:
    routes = [
        canary("by-jwt", 20, "jwt:sub"),
        canary("by-dashed-cookie", 20, "cookie:session-id"),
        route("mirrored", mode="shadow", target="inventory"),
        route(
            "pinned",
            match={"path_prefix": "/api/pinned/"},
            read_your_writes={"window_s": 5},
        ),
    ]
    routes_file = tmp_path / "routes.yaml"
    upstreams = {"monolith": upstream(dead_url()), "inventory": upstream(dead_url())}
    routes_file.write_text(routes_yaml(upstreams, routes), encoding="utf-8")
    check = export(routes_file, "--check", "nginx")
    assert check.returncode == 1
    lines = check.stdout.splitlines()
    assert len(lines) == 4, check.stdout
    assert lines[0].startswith("route by-jwt: sticky jwt:sub")
    assert lines[1].startswith("route by-dashed-cookie: sticky cookie:session-id")
    assert lines[2].startswith("route mirrored: shadow needs our proxy or a comparer")
    assert lines[3].startswith("route pinned: read_your_writes")
    # The file itself still renders (what nginx can do), and to a file atomically.
    out = tmp_path / "out" / "nginx.conf"
    out.parent.mkdir()
    assert export(routes_file, "nginx", "-o", str(out)).returncode == 0
    assert "split_clients" in out.read_text()


def test_bad_engine_is_refused_in_one_line(tmp_path: Path) -> None:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(routes_yaml({"monolith": upstream(dead_url())}, []), encoding="utf-8")
    done = export(routes_file, "haproxy")
    assert done.returncode != 0 and "haproxy" in done.stderr
