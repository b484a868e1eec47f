"""The stack the monolith's orders ports are tested on (branch by abstraction,
docs/branch-by-abstraction.md): the monolith, the inventory and payments services, the proxy in
front (the façade the remote adapters call), and the sync processes both ways, as real processes
on fresh PostgreSQL databases and Redis. The orders service is not started: the orders stay on
the monolith here, which is the point.

``switch`` moves a capability's writes with the CLI a person runs (`strangler sync switch ...
--route <capability>-writes`: freeze, drain, flip, route); ``books`` reads both owners and says
whether stock, payments and orders agree.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

from strangler.stack import Ports, issue_tokens_step
from tests.support.callers import stack_staff_headers
from tests.support.components import StackUrls, prepare, running, server, whole_stack_environment
from tests.support.inventory_api import PRODUCTS, product_body, product_path, reservation_path
from tests.support.processes import REPO_ROOT, VENV_BIN, ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.waiting import wait_for

ORDERS = "/api/orders/"
PAYMENTS = "/api/payments/"

#: Every process but the orders service and its worker (the orders stay on the monolith; the
#: reverse relay's orders thread has nothing to send).
PROCESSES = (
    "monolith",
    "inventory",
    "payments",
    "proxy",
    "worker-monolith",
    "worker-inventory",
    "worker-payments",
    "relay",
    "relay-services",
)


def order_path(order_id: str, action: str = "") -> str:
    return f"{ORDERS}{order_id}/{action + '/' if action else ''}"


def checkout_body(lines: list[tuple[str, int]], card_token: str = "tok_visa") -> dict[str, Any]:
    return {"lines": [{"sku": s, "quantity": q} for s, q in lines], "card_token": card_token}


@dataclass
class Customer:
    id: str
    headers: dict[str, str]


@dataclass
class PortsStack(StackUrls):
    ports: Ports
    env: dict[str, str]
    logs: Path
    processes: dict[str, ServerProcess] = field(default_factory=dict)
    restarts: int = 0

    # -- processes -------------------------------------------------------------------------

    def run(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(argv),
            env={**self.env, **env},
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def switch(self, capability: str, direction: str) -> None:
        """`strangler sync switch CAPABILITY DIRECTION --route CAPABILITY-writes`."""
        done = self.run(
            str(VENV_BIN / "strangler"),
            "sync",
            "switch",
            capability,
            direction,
            "--route",
            f"{capability}-writes",
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def directions(self) -> dict[str, str]:
        """The monolith's direction of inventory and payments."""
        found = {}
        for capability in ("inventory", "payments"):
            url = f"{self.monolith_url}/internal/sync/direction/{capability}"
            found[capability] = httpx.get(url, timeout=10).json()["direction"]
        return found

    def ensure(self, *, inventory: str, payments: str) -> None:
        """Switch each capability whose direction differs (each switch drains first)."""
        current = self.directions()
        for capability, wanted in (("inventory", inventory), ("payments", payments)):
            if current[capability] != wanted:
                self.switch(capability, wanted)
        assert self.directions() == {"inventory": inventory, "payments": payments}

    def monolith(self) -> ServerProcess:
        return self.processes["monolith"]

    def start_monolith(self, **env: str) -> ServerProcess:
        """A monolith process (gunicorn, the stack's command line) with ``env`` added."""
        self.restarts += 1
        proc = server(
            "monolith",
            ports=self.ports,
            env={**self.env, **env},
            log_dir=self.logs,
            label=f"monolith-{self.restarts}",
        )
        proc.start()
        proc.wait_http_ok(f"{self.monolith_url}/health/ready")
        self.processes["monolith"] = proc
        return proc

    # -- accounts and data -----------------------------------------------------------------

    def customers(self, count: int) -> list[Customer]:
        """``count`` new customer accounts, with their bearer headers (issued by the monolith)."""
        names = [f"buyer-{random_suffix()}" for _ in range(count)]
        done = self.run(*issue_tokens_step(names, staff=False, ttl_s=3600))
        assert done.returncode == 0, done.stderr
        tokens = done.stdout.strip().splitlines()[-count:]
        return [
            Customer(
                id=jwt.decode(token, options={"verify_signature": False})["sub"],
                headers={"Authorization": f"Bearer {token}"},
            )
            for token in tokens
        ]

    def staff(self) -> dict[str, str]:
        done = self.run(*issue_tokens_step([f"staff-{random_suffix()}"], staff=True, ttl_s=3600))
        assert done.returncode == 0, done.stderr
        return {"Authorization": f"Bearer {done.stdout.strip().splitlines()[-1]}"}

    def product(self, *, price: str = "5.00", on_hand: int = 10) -> str:
        """A new product, made at whoever takes the inventory writes (through the proxy), and
        on both owners once synced; its sku."""
        body = product_body(price=price, on_hand=on_hand)
        created = httpx.post(
            f"{self.proxy_url}{PRODUCTS}",
            json=body,
            headers=stack_staff_headers(self.env),
            timeout=30,
        )
        assert created.status_code == 201, created.text
        sku = str(created.json()["sku"])
        wait_for(lambda: self._same(product_path(sku), {}), message=f"product {sku} on both")
        return sku

    # -- the books -------------------------------------------------------------------------

    def _same(self, path: str, headers: dict[str, str]) -> bool:
        monolith = httpx.get(f"{self.monolith_url}{path}", headers=headers, timeout=10)
        service = httpx.get(f"{self._service_of(path)}{path}", headers=headers, timeout=10)
        return monolith.status_code == 200 and monolith.json() == service.json()

    def _service_of(self, path: str) -> str:
        return self.inventory_url if path.startswith("/api/inventory/") else self.payments_url

    def books(self, customer: Customer, skus: list[str]) -> list[str]:
        """What does not balance for ``customer``'s orders and ``skus`` (empty: the books
        balance), once both owners hold the same payments, reservations and stock."""
        with httpx.Client(timeout=10) as http:
            orders = http.get(
                f"{self.monolith_url}{ORDERS}",
                params={"page_size": 500},
                headers=customer.headers,
            ).json()["results"]
            payment_list = f"{PAYMENTS}?page_size=500"  # the customer's own (their token)
            reservations = [
                reservation_path(o["reservation_id"]) for o in orders if o["reservation_id"]
            ]
        wait_for(
            lambda: all(
                self._same(path, customer.headers)
                for path in [payment_list, *reservations, *map(product_path, skus)]
            ),
            timeout=60,
            message="both owners to hold the same payments, reservations and stock",
        )
        with httpx.Client(base_url=self.monolith_url, timeout=10) as http:
            payments = http.get(payment_list, headers=customer.headers).json()["results"]
            stock = {sku: http.get(product_path(sku)).json() for sku in skus}
            held = {
                path: http.get(path).json()
                for path in reservations  # reservations by id: the open contract
            }
        return _unbalanced(orders, payments, held, stock)


def _unbalanced(
    orders: list[dict[str, Any]],
    payments: list[dict[str, Any]],
    reservations: dict[str, dict[str, Any]],
    stock: dict[str, dict[str, Any]],
) -> list[str]:
    problems = []
    captured = {p["order_id"]: p for p in payments if p["status"] == "captured"}
    paid_for = {o["id"] for o in orders if o["status"] in ("confirmed", "fulfilled")}
    for order_id, payment in captured.items():
        if order_id not in paid_for:
            problems.append(f"captured payment {payment['id']} without a confirmed order")
    for order in orders:
        if order["status"] in ("confirmed", "fulfilled"):
            kept = [p for p in payments if p["id"] == order["payment_id"]]
            if [p["status"] for p in kept] != ["captured"]:
                problems.append(f"order {order['id']} {order['status']}: payment {kept}")
        elif order["status"] == "cancelled" and order["id"] in captured:
            problems.append(f"cancelled order {order['id']} has a captured payment")
    by_order = {r["order_id"]: r for r in reservations.values()}
    for order in orders:
        held = by_order.get(order["id"])
        expected = {"confirmed": "pending", "fulfilled": "committed"}.get(order["status"])
        if expected is not None and (held is None or held["status"] != expected):
            problems.append(f"order {order['id']} {order['status']}: reservation {held}")
    ordered: dict[str, int] = {}
    for order in orders:
        if order["status"] == "confirmed":
            for line in order["lines"]:
                ordered[line["sku"]] = ordered.get(line["sku"], 0) + line["quantity"]
    for sku, product in stock.items():
        if product["reserved"] != ordered.get(sku, 0):
            holding = ordered.get(sku, 0)
            problems.append(f"{sku}: {product['reserved']} reserved, confirmed orders {holding}")
    return problems


@contextmanager
def running_ports_stack(
    tmp_path: Path, redis_url: str, **monolith_env: str
) -> Iterator[PortsStack]:
    """Migrate, then start ``PROCESSES`` on fresh databases (the monolith with
    ``monolith_env`` added: short leases and recovery intervals in tests)."""
    with ExitStack() as stack:
        ports, env = stack.enter_context(
            whole_stack_environment(tmp_path, redis_url, "bba", migrated=True)
        )
        prepare(env, migrated=True)
        logs = tmp_path / "logs"
        rig = PortsStack(ports=ports, env={**env, **monolith_env}, logs=logs, processes={})
        # The monolith first: a service is ready only once it holds the monolith's revocation
        # list. Whichever monolith process runs at the end is stopped.
        stack.callback(lambda: rig.monolith().stop())
        rig.start_monolith()
        others = [name for name in PROCESSES if name != "monolith"]
        rig.processes.update(
            stack.enter_context(running(others, ports=ports, env=env, log_dir=logs))
        )
        yield rig
