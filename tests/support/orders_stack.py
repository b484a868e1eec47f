"""The orders service as it runs for real, for the suites that test it end to end: the monolith
(its payments endpoints, and the key pair that signs every token), the inventory service and the
proxy (the façade the saga calls through: inventory's routes on the service, payments' on the
monolith) as real processes on fresh PostgreSQL databases, and orders processes started (and
SIGKILLed, and restarted) by the test on a database of their own.

Tokens are signed with the monolith's own private key file (the monolith writes it on first use),
so they are exactly the tokens the monolith issues.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization

from contracts.sync_token import SYNC_TOKEN_ENV, bearer
from contracts.tokens import ALGORITHM, AUDIENCE, ISSUER
from monolith.identity.keys import thumbprint
from proxy.config_edit import update_route
from strangler.stack import Ports, stack_environment, write_routes_file
from tests.support.components import StackUrls, free_ports, process_spec, running
from tests.support.database_templates import migrated_database
from tests.support.inventory_api import PRODUCTS, product_body, product_path
from tests.support.ports import free_port
from tests.support.processes import ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

ORDERS = "/api/orders/"


def order_path(order_id: str, action: str = "") -> str:
    return f"{ORDERS}{order_id}/{action + '/' if action else ''}"


@dataclass
class Upstreams(StackUrls):
    """The monolith and the inventory service, running; the env the orders processes start in."""

    ports: Ports
    env: dict[str, str]
    logs: Path
    private_key: Any = field(repr=False)
    #: The orders service's staff account: one for every orders process, as in a deployment
    #: (a charge's Idempotency-Key belongs to the account that sent it).
    service_account: uuid.UUID = field(default_factory=uuid.uuid4)

    @property
    def routes_file(self) -> Path:
        return Path(self.env["PROXY_ROUTES_FILE"])

    def set_route(self, name: str, **changes: Any) -> None:
        """Flip a route of the façade and wait until the running proxy serves the new table."""
        update_route(self.routes_file, name, actor="test", **changes)
        self._await_routes_loaded()

    def restore_routes(self, text: str) -> None:
        """Put the route file back as ``text`` (a test's changes undone), once it is served."""
        if self.routes_file.read_text(encoding="utf-8") != text:
            self.routes_file.write_text(text, encoding="utf-8")
            self._await_routes_loaded()

    def _await_routes_loaded(self) -> None:
        digest = hashlib.sha256(self.routes_file.read_bytes()).hexdigest()
        auth = {"Authorization": f"Bearer {self.env['PROXY_ADMIN_TOKEN']}"}

        def served() -> bool:
            answer = httpx.get(f"{self.admin_url}/admin/routes", headers=auth, timeout=5)
            return bool(answer.json()["digest"] == digest)

        wait_for(served, timeout=10, message="the proxy to serve the new route table")

    def token(self, sub: uuid.UUID | str, *, staff: bool = False, ttl_s: int = 3600) -> str:
        now = int(time.time())
        claims = {
            "sub": str(sub),
            "username": f"user-{sub}",
            "staff": staff,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl_s,
            "jti": uuid.uuid4().hex,
        }
        kid = thumbprint(self.private_key.public_key())
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": kid})

    def auth(self, sub: uuid.UUID | str, *, staff: bool = False) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, staff=staff)}"}

    def staff(self) -> dict[str, str]:
        return self.auth(uuid.uuid4(), staff=True)

    def product(self, **overrides: Any) -> dict[str, Any]:
        """A new product in the inventory service (where the orders service reserves)."""
        body = product_body(**overrides)
        created = httpx.post(
            f"{self.inventory_url}{PRODUCTS}", json=body, headers=self.staff(), timeout=10
        )
        assert created.status_code == 201, created.text
        return dict(created.json())

    def stock(self, sku: str) -> dict[str, Any]:
        answer = httpx.get(f"{self.inventory_url}{product_path(sku)}", timeout=10)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def payments_of(self, customer_id: uuid.UUID | str) -> list[dict[str, Any]]:
        """The customer's payments, as the monolith's payments endpoints list them."""
        answer = httpx.get(
            f"{self.monolith_url}/api/payments/",
            params={"customer_id": str(customer_id), "page_size": 500},
            headers=self.staff(),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        return list(answer.json()["results"])


@contextmanager
def running_upstreams(logs: Path) -> Iterator[Upstreams]:
    with ExitStack() as stack:
        monolith_db = stack.enter_context(migrated_database("monolith", "ord_mono"))
        inventory_db = stack.enter_context(migrated_database("inventory", "ord_inv"))
        var = logs / "var"
        var.mkdir(parents=True, exist_ok=True)
        ports = free_ports()
        env = stack_environment(
            ports,
            base={
                **os.environ,
                "STRANGLER_VAR_DIR": str(var),
                "DATABASE_URL": monolith_db,
                "INVENTORY_DATABASE_URL": inventory_db,
            },
        )
        env.pop("ORDERS_DATABASE_URL", None)
        env[SYNC_TOKEN_ENV] = f"sync-{random_suffix()}"  # the façade honours the saga's dry runs
        env["PROXY_ADMIN_TOKEN"] = f"admin-{random_suffix()}"
        # Two upstreams that fail, for the routes of a test that wants an owner down: nothing
        # listens at ``nowhere`` (every connection refused); ``blackhole`` accepts connections
        # and never answers (every read times out).
        blackhole = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        blackhole.bind(("127.0.0.1", 0))
        blackhole.listen(64)
        routes = var / "routes.yaml"
        write_routes_file(routes, ports)
        failing = (
            f"  nowhere: {{url: http://127.0.0.1:{free_port()}}}\n"
            f"  blackhole: {{url: http://127.0.0.1:{blackhole.getsockname()[1]}, timeout_s: 1}}\n"
        )
        routes.write_text(routes.read_text().replace("\nroutes:", f"{failing}\nroutes:", 1))
        env["PROXY_ROUTES_FILE"] = str(routes)
        # The saga reserves in the inventory service here: inventory's routes send it there.
        for name in ("inventory-reads", "inventory-writes"):
            update_route(routes, name, actor="test", mode="extracted")
        stack.enter_context(
            running(["monolith", "inventory", "proxy"], ports=ports, env=env, log_dir=logs)
        )
        # The monolith writes its key pair on first use; the JWKS asks for it.
        assert httpx.get(f"http://127.0.0.1:{ports.monolith}/api/auth/jwks/").status_code == 200
        private_key = serialization.load_pem_private_key(
            (var / "keys" / "jwt-private.pem").read_bytes(), password=None
        )
        yield Upstreams(ports=ports, env=env, logs=logs, private_key=private_key)


class OrdersProcess(StackUrls):
    """One orders process (uvicorn, the stack's command line) on ``database_url``."""

    def __init__(
        self, upstreams: Upstreams, database_url: str, env: Mapping[str, str], label: str
    ) -> None:
        self.ports = upstreams.ports
        service_env = {
            **upstreams.env,
            "ORDERS_DATABASE_URL": database_url,
            "ORDERS_SERVICE_TOKEN": upstreams.token(
                upstreams.service_account, staff=True, ttl_s=86400
            ),
            # Short leases and pauses, so a test sees recovery within seconds.
            "ORDERS_SAGA_LEASE_S": "3",
            "ORDERS_RECOVERY_INTERVAL_S": "0.2",
            "ORDERS_RETRY_MAX_BACKOFF_S": "0.5",
            **env,
        }
        self.proc = ServerProcess(
            label,
            process_spec("orders", self.ports).argv,
            env=service_env,
            log_dir=upstreams.logs,
            inherit_env=False,
        )
        #: The ``Authorization`` header of the sync token it takes (the stack's own: the service
        #: loads the monolith's revocation list with it).
        self.sync_auth = bearer(service_env[SYNC_TOKEN_ENV])

    def start(self) -> OrdersProcess:
        self.proc.start()
        self.proc.wait_http_ok(f"{self.orders_url}/health/ready")
        return self

    def stop(self) -> None:
        self.proc.stop()

    def wait_killed(self, timeout: float = 20.0) -> int:
        """The exit status once the process is gone (a crash point kills it)."""
        assert self.proc.proc is not None
        return self.proc.proc.wait(timeout=timeout)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.orders_url, timeout=30)


@dataclass
class OrdersDeployment:
    """Start orders processes one after the other on one database (crash, then restart)."""

    upstreams: Upstreams
    database_url: str
    started: list[OrdersProcess] = field(default_factory=list)

    def start(self, **env: str) -> OrdersProcess:
        label = f"orders-{len(self.started)}"
        process = OrdersProcess(self.upstreams, self.database_url, env, label)
        self.started.append(process)
        return process.start()

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


@contextmanager
def orders_deployment(upstreams: Upstreams) -> Iterator[OrdersDeployment]:
    with migrated_database("orders", "ord_svc") as url:
        deployment = OrdersDeployment(upstreams, url)
        try:
            yield deployment
        finally:
            deployment.stop_all()


def checkout_body(lines: list[tuple[str, int]], card_token: str = "tok_visa") -> dict[str, Any]:
    return {"lines": [{"sku": s, "quantity": q} for s, q in lines], "card_token": card_token}


def orders_of(client: httpx.Client, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    answer = client.get(ORDERS, headers=dict(headers))
    assert answer.status_code == 200, answer.text
    return list(answer.json()["results"])


def wait_for_order(
    client: httpx.Client, headers: Mapping[str, str], *, status: str, timeout: float = 30.0
) -> dict[str, Any]:
    """The customer's one order once it has ``status`` (recovery may still be running)."""

    def settled() -> dict[str, Any]:
        found = orders_of(client, headers)
        return found[0] if len(found) == 1 and found[0]["status"] == status else {}

    return wait_for(settled, timeout=timeout, message=f"an order {status}")
