"""`strangler routes export envoy`: the bootstrap parses into Envoy's own API types (no field
they do not know), routes in our router's order, and the Lua filter's bucket is proxy/sticky.py's
(run with LuaJIT, the Lua of Envoy's filter; scripts/test_tools.sh installs it)."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from betterproto2 import Casing
from envoy_data_plane.envoy.config.bootstrap.v3 import Bootstrap

from proxy.config import parse_route_table
from proxy.export_envoy import LUA_BUCKET, render_envoy
from proxy.sticky import bucket_of, cookie_value
from tests.proxy.harness import route, routes_yaml, upstream
from tests.support.processes import REPO_ROOT, VENV_BIN

_PACKAGE = "envoy_data_plane."


def table_text() -> str:
    routes = [
        route(
            "by-header",
            match={"path_prefix": "/api/inventory/", "methods": ["GET", "HEAD"]},
            mode="canary",
            target="inventory",
            percent=33.33,
            sticky="header:X-Client-Id",
            fallback="monolith",
        ),
        route(
            "by-cookie",
            match={"path_prefix": "/api/cart/"},
            mode="canary",
            target="inventory",
            percent=50,
            sticky="cookie:session_id",
        ),
        route(
            "by-jwt",
            match={"path_prefix": "/api/me/"},
            mode="canary",
            target="inventory",
            percent=10,
            sticky="jwt:sub",
        ),
        route(
            "moved",
            match={"path_prefix": "/api/moved/"},
            mode="extracted",
            target="payments",
            fallback="monolith",
        ),
        route("shadowed", match={"path_prefix": "/api/orders/"}, mode="shadow", target="payments"),
        route(
            "beta",
            match={"path_prefix": "/api/shop/", "headers": {"X-Beta": "1", "X-Any": "*"}},
            mode="extracted",
            target="inventory",
        ),
        route("shop", match={"path_prefix": "/api/shop/"}, mode="monolith"),
        route(
            "cancel",
            match={"path_pattern": "/api/shop/{id:[0-9]+}/cancel/", "methods": ["POST"]},
            mode="extracted",
            target="inventory",
        ),
        route("health", match={"path": "/api/health/"}, mode="extracted", target="inventory"),
    ]
    upstreams = {
        "monolith": upstream("http://127.0.0.1:18000", timeout_s=15),
        "inventory": upstream("http://127.0.0.1:18101", timeout_s=2.5),
        "payments": upstream("https://payments.example:8443", retry={"attempts": 0}),
    }
    return routes_yaml(upstreams, routes)


@pytest.fixture(scope="module")
def routes_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("envoy") / "routes.yaml"
    path.write_text(table_text())
    return path


def export(routes_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [str(VENV_BIN / "strangler"), "routes", "export", *args, "-f", str(routes_file)]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def _register_types(value: Any) -> None:
    """Import the message module of every ``@type`` so betterproto can unpack the Any."""
    if isinstance(value, dict):
        url = value.get("@type")
        if isinstance(url, str):
            package = url.removeprefix("type.googleapis.com/").rsplit(".", 1)[0]
            importlib.import_module(_PACKAGE + package)
        for item in value.values():
            _register_types(item)
    elif isinstance(value, list):
        for item in value:
            _register_types(item)


def parsed(text: str) -> tuple[dict[str, Any], Bootstrap]:
    data = yaml.safe_load(text)
    _register_types(data)
    # Strict: an unknown field anywhere, typed configs included, raises.
    return data, Bootstrap.from_dict(data)


def _normal(value: Any) -> Any:
    """Proto JSON's spelling of plain data: defaults dropped, integers as text."""
    if isinstance(value, dict):
        pairs = ((k, _normal(v)) for k, v in value.items())
        return {k: v for k, v in pairs if v not in (None, False, 0, "0", "", [], {})}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    return value


def test_the_bootstrap_is_envoys_own_types_with_nothing_lost(routes_file: Path) -> None:
    result = export(routes_file, "envoy", "--listen", "127.0.0.1:19080")
    assert result.returncode == 0, result.stderr
    data, bootstrap = parsed(result.stdout)
    back = bootstrap.to_dict(casing=Casing.SNAKE)
    assert _normal(back) == _normal(data)
    resources = bootstrap.static_resources
    assert resources is not None
    address = resources.listeners[0].address
    assert address is not None and address.socket_address is not None
    assert address.socket_address.port_value == 19080


def test_a_field_envoy_does_not_know_is_caught(routes_file: Path) -> None:
    text = export(routes_file, "envoy").stdout
    with pytest.raises(KeyError, match=r"retry_onn|retryOnn"):
        parsed(text.replace("retry_on:", "retry_onn:", 1))
    with pytest.raises(KeyError, match="suppress_envoy_header"):
        parsed(text.replace("suppress_envoy_headers:", "suppress_envoy_header:", 1))


def test_same_table_same_bytes(routes_file: Path) -> None:
    table = parse_route_table(routes_file.read_text())
    first = render_envoy(table, listen="127.0.0.1:19080")
    assert first == render_envoy(
        parse_route_table(routes_file.read_text()), listen="127.0.0.1:19080"
    )
    assert export(routes_file, "envoy", "--listen", "127.0.0.1:19080").stdout == first


def _routes(text: str) -> list[dict[str, Any]]:
    data = yaml.safe_load(text)
    manager = data["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes: list[dict[str, Any]] = manager["typed_config"]["route_config"]["virtual_hosts"][0][
        "routes"
    ]
    return routes


def test_routes_follow_our_routers_precedence_and_split_canaries(routes_file: Path) -> None:
    routes = _routes(export(routes_file, "envoy").stdout)
    assert [r["name"] for r in routes] == [
        "internal",
        "internal-root",
        "health",
        "cancel",
        "by-header:canary:read",
        "by-header",
        "shadowed",
        "moved:read",
        "moved",
        "beta",
        "by-cookie:canary",
        "by-cookie",
        "shop",
        "by-jwt:canary",
        "by-jwt",
        "not-found",
    ]
    by_name = {r["name"]: r for r in routes}
    canary = by_name["by-header:canary:read"]
    assert canary["route"]["cluster"] == "strangler_inventory_or_monolith"
    assert {"name": "x-strangler-bucket-by-header", "range_match": {"start": 0, "end": 3333}} in (
        canary["match"]["headers"]
    )
    assert by_name["by-header"]["route"]["cluster"] == "strangler_monolith"
    assert "headers" not in by_name["by-cookie"]["match"] or not any(
        h["name"].startswith("x-strangler-bucket") for h in by_name["by-cookie"]["match"]["headers"]
    )
    # Writes of a route that falls back go to the target alone, never retried (payments: 0).
    assert by_name["moved"]["route"] == {"cluster": "strangler_payments", "timeout": "5s"}
    assert by_name["shadowed"]["route"]["cluster"] == "strangler_monolith"
    assert by_name["cancel"]["match"]["safe_regex"]["regex"] == r"/api/shop/(?:[0-9]+)/cancel/"
    retry = by_name["health"]["route"]["retry_policy"]
    assert retry["retriable_status_codes"] == [502, 503, 504]
    methods = retry["retriable_request_headers"][0]["string_match"]["safe_regex"]["regex"]
    assert "POST" not in methods.split("|") and "PATCH" not in methods.split("|")
    assert {"name": "x-any", "present_match": True} in by_name["beta"]["match"]["headers"]


def test_check_lists_what_envoy_cannot_express(routes_file: Path) -> None:
    result = export(routes_file, "--check", "envoy")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("route by-jwt: sticky jwt:sub") for line in lines)
    assert any(line.startswith("route shadowed: shadow") for line in lines)
    assert len(lines) == 2


def test_check_on_the_default_table_finds_nothing() -> None:
    result = export(REPO_ROOT / "proxy" / "routes.default.yaml", "--check", "envoy")
    assert (result.returncode, result.stdout) == (0, "")


def test_a_bad_listen_address_is_one_line_and_exit_1(routes_file: Path) -> None:
    result = export(routes_file, "envoy", "--listen", "127.0.0.1:http")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "--listen" in result.stderr


def _luajit() -> str:
    found = shutil.which("luajit")
    assert found, "luajit is missing: bash scripts/test_tools.sh installs it"
    return found


def test_the_lua_bucket_is_sticky_pys(tmp_path: Path) -> None:
    keys = [f"client-{n}" for n in range(1500)]
    keys += [f"10.0.{n // 256}.{n % 256}" for n in range(400)]
    keys += ["", "a", "ab", "abc", "é-latin1", "ÿ" * 7] + [f"user-{n}" * (n % 9) for n in range(94)]
    route_name = "inventory-reads"
    script = tmp_path / "bucket.lua"
    script.write_text(
        LUA_BUCKET
        + "for line in io.lines() do\n"
        + f'  io.write(string.format("%d\\n", bucket("{route_name}:" .. line)))\n'
        + "end\n",
        encoding="latin-1",
    )
    stdin = "".join(f"{key}\n" for key in keys).encode("latin-1")
    result = subprocess.run([_luajit(), str(script)], input=stdin, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    got = [int(line) for line in result.stdout.decode().split()]
    assert len(keys) >= 2000
    assert got == [bucket_of(route_name, key) for key in keys]


def test_the_lua_cookie_reader_is_sticky_pys(tmp_path: Path) -> None:
    headers = [
        "session_id=abc",
        "a=1; session_id=xyz; b=2",
        'session_id="quoted"',
        "session_id=",
        "other=1",
        "  session_id =  spaced ",
        "x=1;session_id= tight ;y",
        "session_id=a=b",
    ]
    script = tmp_path / "cookie.lua"
    script.write_text(
        LUA_BUCKET
        + "for line in io.lines() do\n"
        + '  io.write((cookie_value(line, "session_id") or "<none>") .. "\\n")\n'
        + "end\n"
    )
    stdin = "".join(f"{h}\n" for h in headers)
    result = subprocess.run(
        [_luajit(), str(script)], input=stdin, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    expected = [cookie_value(h, "session_id") or "<none>" for h in headers]
    assert result.stdout.splitlines() == expected
