"""Host and exposure: every owner answers only the Host names it is configured for (another gets
the contract's 400), builds absolute links on the public origin (never on a client's Host), and
the proxy forwards only what the route table names (the rest: 404, no upstream sees it).

One stack for the module: the four owners (on a migrated copy of the run's templates, three
products seeded) and the proxy on the default route table, in the environment `strangler up`
gives them (stack_environment: the public origin is the proxy's URL)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import ValidationError

from contracts.sync_token import SYNC_TOKEN_ENV
from extracted.chassis.web.settings import ServiceSettings
from strangler.stack import Ports, stack_environment, write_routes_file
from tests.support.components import StackUrls, free_ports, prepare, running
from tests.support.database_templates import fresh_owner_databases
from tests.support.random_refs import random_suffix

PRODUCTS = 3

#: Hosts no owner is configured for: other names, look-alikes of the allowed ones, and Hosts that
#: are not valid at all (Django refuses those whatever ALLOWED_HOSTS says).
FOREIGN_HOSTS = [
    "evil.example",
    "evil.example:8000",
    "EVIL.example",
    "127.0.0.1.evil.example",
    "localhost.evil.example",
    "evil-localhost",
    "127.0.0.2",
    "10.0.0.1:8080",
    "[::2]",
    "[::1].evil.example",
    "localhost@evil.example",
    "evil.example#localhost",
    "evil.example/localhost",
    "localhost evil.example",
    "under_score",
    "",
    ".",
    "localhost:abc",
]
#: The defaults (localhost, 127.0.0.1, [::1]), in the spellings Django accepts.
ALLOWED_HOSTS = ["localhost", "LOCALHOST:1234", "127.0.0.1:9", "localhost.", "[::1]:8000"]

#: Paths no default route names: operational pages of the monolith, static files, and look-alikes
#: of the routed prefixes. Each must be answered by the proxy itself.
UNROUTED = [
    "/admin/",
    "/admin/login/",
    "/metrics",
    "/health/live",
    "/health/ready",
    "/static/admin/css/base.css",
    "/favicon.ico",
    "/",
    "/api/",
    "/api",
    "/api/inventory",
    "/api/schema",
    "/api/authx/",
    "/internal/outbox/stats",
]


@dataclass
class Stack(StackUrls):
    ports: Ports
    env: dict[str, str]

    def owner_urls(self) -> dict[str, str]:
        return {
            "monolith": self.monolith_url,
            "inventory": self.inventory_url,
            "payments": self.payments_url,
            "orders": self.orders_url,
        }


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("host")
    ports = free_ports()
    routes = tmp / "routes.yaml"
    write_routes_file(routes, ports)
    with fresh_owner_databases("host", migrated=True) as databases:
        base = {k: v for k, v in os.environ.items() if k != "STRANGLER_ALLOWED_HOSTS"}
        env = stack_environment(
            ports,
            base={
                **base,
                **databases,
                "STRANGLER_VAR_DIR": str(tmp / "var"),
                "PROXY_ROUTES_FILE": str(routes),
                # As `strangler up` writes one: the services fetch the revocation list with it.
                SYNC_TOKEN_ENV: f"host-sync-{random_suffix()}",
            },
        )
        prepare(env, products=PRODUCTS, migrated=True)
        names = ["monolith", "inventory", "payments", "orders", "proxy"]
        with running(names, ports=ports, env=env, log_dir=tmp / "logs"):
            yield Stack(ports, env)


def _get(url: str, path: str, host: str) -> httpx.Response:
    # httpx would put the URL's authority in Host; the raw header is set as given.
    return httpx.get(f"{url}{path}", headers={"Host": host}, timeout=10)


@pytest.mark.parametrize("owner", ["monolith", "inventory", "payments", "orders"])
def test_every_owner_refuses_a_host_it_is_not_configured_for(stack: Stack, owner: str) -> None:
    url = stack.owner_urls()[owner]
    path = f"/api/{'inventory/products' if owner in ('monolith', 'inventory') else owner}/"
    wrong = {}
    for host in FOREIGN_HOSTS:
        answer = _get(url, path, host)
        if answer.status_code != 400 or answer.json().get("error") != "bad_request":
            wrong[host] = (answer.status_code, answer.text[:80])
    assert wrong == {}
    for host in ALLOWED_HOSTS:
        # Allowed: the request goes on (200 for the products list, 401 without a token).
        assert _get(url, path, host).status_code in (200, 401), host


def test_links_name_the_public_origin_whatever_host_was_sent(stack: Stack) -> None:
    # The monolith holds the seeded products (the service's links: tests/extracted, in-process).
    for url in (stack.monolith_url, stack.proxy_url):
        page = _get(url, "/api/inventory/products/?page_size=1&page=2", "localhost:1234").json()
        assert page["next"] == f"{stack.proxy_url}/api/inventory/products/?page=3&page_size=1"
        assert page["previous"] == f"{stack.proxy_url}/api/inventory/products/?page_size=1"


def test_through_the_proxy_a_foreign_host_is_refused_by_the_owner(stack: Stack) -> None:
    answer = _get(stack.proxy_url, "/api/inventory/products/", "evil.example")
    assert answer.status_code == 400
    assert answer.headers["X-Strangler-Upstream"] == "monolith"


@pytest.mark.parametrize("path", UNROUTED)
def test_the_proxy_answers_unrouted_paths_itself(stack: Stack, path: str) -> None:
    for method in ("GET", "POST", "HEAD"):
        answer = httpx.request(method, f"{stack.proxy_url}{path}", timeout=10)
        assert answer.status_code == 404, (method, path)
        assert answer.headers["X-Strangler-Route"] == "-"
        assert answer.headers["X-Strangler-Upstream"] == "-"  # no upstream saw it
        if method != "HEAD":
            assert answer.json()["error"] == "not_found"


def test_the_default_table_routes_the_api_and_sign_in(stack: Stack) -> None:
    schema = httpx.get(f"{stack.proxy_url}/api/schema/", timeout=10)
    assert (schema.status_code, schema.headers["X-Strangler-Route"]) == (200, "api-schema")
    # Sign-in reaches the monolith (a wrong password is its 400/401, not the proxy's 404).
    token = httpx.post(
        f"{stack.proxy_url}/api/auth/token/",
        json={"username": "nobody", "password": "wrong"},
        timeout=10,
    )
    assert token.headers["X-Strangler-Route"] == "auth"
    assert token.status_code in (400, 401)
    for path in ("/api/inventory/products/", "/api/payments/", "/api/orders/"):
        assert httpx.get(f"{stack.proxy_url}{path}", timeout=10).status_code in (200, 401)
    # The operational pages are still served on the monolith's own port.
    assert httpx.get(f"{stack.monolith_url}/health/live", timeout=10).status_code == 200
    assert httpx.get(f"{stack.monolith_url}/metrics", timeout=10).status_code == 200


def test_a_public_origin_that_is_not_an_origin_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="STRANGLER_PUBLIC_ORIGIN"):
        ServiceSettings(public_origin="127.0.0.1:8080")
