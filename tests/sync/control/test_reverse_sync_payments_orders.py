"""Reverse sync of payments and orders on real processes: gunicorn, uvicorn (payments, orders),
the Celery workers, the forward relay and the service relays, PostgreSQL and Redis.

Each switch is proven by writing continuously through it, both ways: every write answered 2xx is
on both owners afterwards, equal as clients read it, and the monolith's outbox gains no event of
the capability while it only applies the service's. An order arriving before its payment (each
has its own relay) is applied at once and the payment when it comes, nothing dead-lettered; the
orders service becomes a source only while its saga's calls follow the switches (through the
façade, or at the owners that take the writes), else it is refused with one line; and checkouts
through the façade keep working across every flip of the inventory and payments routes, the
books balancing afterwards.

The tests whose saga calls through the façade share one rig with every process running (each
test with its own customer and product, and every switch and route it moves moved back); the one
whose saga calls the payments service directly has a rig of its own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.events import Capability
from migrations_plan.gates import Endpoints, GateResult, evaluate_gate
from migrations_plan.model import ReverseBacklogGate
from migrations_plan.settings import WalkerSettings
from proxy.config import load_route_table
from strangler.stack import service_relay_argv
from sync.control.direction import Owners, directions, switch
from sync.task_names import task_name
from tests.monolith.orders.factories import checkout_body
from tests.support.orders_stack import ORDERS, order_path
from tests.support.payments_api import PAYMENTS, payment_body, payment_path
from tests.support.processes import ServerProcess
from tests.support.random_refs import random_suffix
from tests.support.sync_states import from_service, order_state
from tests.support.waiting import wait_for
from tests.sync.rig import SyncRig, running_rig
from tests.sync.workers import wait_until_ready
from tests.sync.writer import Writer

pytestmark = pytest.mark.slow

#: A service relay, its queue's worker and the forward sync of each capability.
WORKERS = {"payments": "worker-payments", "orders": "worker-orders"}
SERVICES = ("inventory", "payments", "orders")


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[SyncRig], None]:
    """This process (which drives the switch) holds the rig's token too."""

    def hold(rig: SyncRig) -> None:
        rig.hold_sync_token(monkeypatch)

    return hold


def owners(rig: SyncRig, capability: str) -> Owners:
    return Owners(capability, rig.monolith_url, rig.service_url(capability))


def _service_relay_process(rig: SyncRig, capability: str) -> ServerProcess:
    """The stack's reverse relay, of ``capability`` only, not started yet."""
    argv = service_relay_argv(capability)
    name = f"relay-{capability}-{random_suffix()}"
    return ServerProcess(name, argv, env=rig.env, log_dir=rig.log_dir)


@contextmanager
def service_relay(rig: SyncRig, capability: str) -> Iterator[ServerProcess]:
    """The stack's reverse relay of ``capability``, once it listens."""
    with _service_relay_process(rig, capability) as p:
        wait_until_ready(p)
        yield p


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory, module_redis_env: dict[str, str]
) -> Iterator[SyncRig]:
    """The monolith, the three services and the proxy (the saga calls through the façade), with
    every worker, the forward relay and each service's relay running."""
    tmp = tmp_path_factory.mktemp("reverse-sync")
    with running_rig(tmp, module_redis_env, services=SERVICES) as rig, ExitStack() as relays:
        # Every process started before any is awaited: their start-ups overlap.
        started = [relays.enter_context(_service_relay_process(rig, side)) for side in SERVICES]
        rig.shared_workers("worker-monolith", *(f"worker-{side}" for side in SERVICES))
        relays.enter_context(rig.relay())
        for relay in started:
            wait_until_ready(relay)
        yield rig


def _outbox_total(rig: SyncRig, capability: str) -> int:
    url = f"{rig.monolith_url}/internal/outbox/stats?capability={capability}"
    total: int = rig.http.get(url).json()["total"]
    return total


def _dead_letters(rig: SyncRig) -> dict[str, Any]:
    body: dict[str, Any] = rig.http.get(f"{rig.monolith_url}/internal/sync/dead-letters").json()
    return body


class PaymentWriter(Writer):
    """Captures a payment, then refunds 1.00 of the previous one, and so on."""

    def __init__(self, monolith_url: str, headers: dict[str, str]) -> None:
        super().__init__(monolith_url)
        self.headers = headers
        self.refunds: dict[str, int] = {}
        self.last: str | None = None

    def step(self, client: httpx.Client, target: str) -> httpx.Response:
        if self.last is not None and self.refunds[self.last] == 0:
            path, body = payment_path(self.last, "refunds"), {"amount": "1.00"}
        else:
            path, body = PAYMENTS, payment_body(amount="10.00", capture=True)
        return client.post(f"{target}{path}", json=body, headers=self.headers)

    def accept(self, answer: httpx.Response) -> None:
        payment = answer.json()
        if payment["version"] == 1:
            self.refunds[payment["id"]] = 0
        else:
            self.refunds[payment["id"]] = len(payment["refunds"])
        self.last = payment["id"]


class OrderWriter(Writer):
    """Checks out one unit, and cancels every other order it placed."""

    def __init__(self, monolith_url: str, headers: dict[str, str], sku: str) -> None:
        super().__init__(monolith_url)
        self.headers = headers
        self.sku = sku
        self.placed: list[str] = []
        self.cancelled: set[str] = set()

    def step(self, client: httpx.Client, target: str) -> httpx.Response:
        uncancelled = [o for o in self.placed[::2] if o not in self.cancelled]
        if uncancelled:
            path, body = order_path(uncancelled[0], "cancel"), None
        else:
            path, body = ORDERS, checkout_body([(self.sku, 1)])
        return client.post(f"{target}{path}", json=body, headers=self.headers)

    def accept(self, answer: httpx.Response) -> None:
        order = answer.json()
        assert order["status"] in ("confirmed", "cancelled"), order
        if order["version"] == 1:
            self.placed.append(order["id"])
        else:
            self.cancelled.add(order["id"])


def _same_on_both(rig: SyncRig, capability: str, paths: list[str], headers: dict[str, str]) -> bool:
    """True when both owners answer each path alike; else an ``AssertionError`` saying where
    (``wait_for`` reports the last one)."""
    for path in paths:
        monolith = rig.http.get(f"{rig.monolith_url}{path}", headers=headers)
        service = rig.http.get(f"{rig.service_url(capability)}{path}", headers=headers)
        if monolith.status_code != 200 or monolith.json() != service.json():
            raise AssertionError(f"{path}: monolith {monolith.text} service {service.text}")
    return True


def _await_same_on_both(
    rig: SyncRig, capability: str, paths: list[str], headers: dict[str, str]
) -> None:
    wait_for(
        lambda: _same_on_both(rig, capability, paths, headers),
        timeout=60,
        message=f"both owners to hold the same {len(paths)} {capability} rows",
    )


def _through_the_switch_and_back(
    rig: SyncRig, capability: str, writer: Writer, *, at_least: int = 20
) -> None:
    """Writes flow to the monolith, then (switched) to the service and back to the monolith;
    while the service is the source, the monolith's outbox gains no event of ``capability``."""
    service_url = rig.service_url(capability)
    writer.start()
    try:
        wait_for(lambda: writer.total(rig.monolith_url) >= at_least, message="forward writes")

        def to_service() -> None:
            writer.target = service_url

        report = switch(owners(rig, capability), "reverse", move_route=to_service)
        assert report.changed, report.steps
        with httpx.Client() as http:
            assert directions(http, owners(rig, capability)) == ("reverse", "reverse")
        outbox_total = _outbox_total(rig, capability)
        wait_for(lambda: writer.total(service_url) >= at_least, message="reverse writes")
        assert _outbox_total(rig, capability) == outbox_total  # applying never records

        def to_monolith() -> None:
            writer.target = rig.monolith_url

        back = switch(owners(rig, capability), "forward", move_route=to_monolith)
        assert back.changed, back.steps
        before = writer.total(rig.monolith_url)
        wait_for(lambda: writer.total(rig.monolith_url) >= before + at_least, message="again")
    finally:
        writer.halt.set()
        writer.join(timeout=60)
    assert writer.errors == []
    with httpx.Client() as http:
        assert directions(http, owners(rig, capability)) == ("forward", "forward")


def _reverse_backlog_gate(capability: Capability) -> GateResult:
    """The plan's ``reverse_backlog`` gate of ``capability`` (no pending event, no dead letter),
    evaluated against the owners the environment names, as `strangler plan verify` does."""
    gate = ReverseBacklogGate(kind="reverse_backlog", capability=capability)
    with Endpoints(WalkerSettings()) as endpoints:
        return evaluate_gate(gate, endpoints, started_at=datetime.now(UTC), baseline=None)


class _Straggler:
    """A payment create sent to the payments service whose body is held back until
    ``arrive``: a request the route sent to the service that its server reads only later."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.sent = threading.Event()
        self.released = threading.Event()
        self.answers: list[httpx.Response] = []
        self.thread = threading.Thread(target=self._post, args=(url, headers), daemon=True)

    HEAD, TAIL = b'{"amount": "10.00", ', b'"card_token": "tok_visa", "capture": true}'

    def _body(self) -> Iterator[bytes]:
        self.sent.set()  # the request line and headers are out
        yield self.HEAD
        self.released.wait(timeout=60)
        yield self.TAIL

    def _post(self, url: str, headers: dict[str, str]) -> None:
        length = str(len(self.HEAD) + len(self.TAIL))  # a length, as clients send JSON
        json_headers = {**headers, "Content-Type": "application/json", "Content-Length": length}
        with httpx.Client(timeout=60) as http:
            self.answers.append(http.post(url, content=self._body(), headers=json_headers))

    def arrive_during(self, settle_s: float) -> None:
        """The switch's settle period: the body arrives and is answered within it."""
        assert settle_s > 0
        self.released.set()
        self.thread.join(timeout=60)

    def answer(self) -> tuple[int, str | None]:
        self.released.set()  # if the switch never settled, it arrives now, too late
        self.thread.join(timeout=60)
        [answer] = self.answers
        return answer.status_code, answer.headers.get("Retry-After")


def _straggling_write(rig: SyncRig, headers: dict[str, str]) -> _Straggler:
    straggler = _Straggler(f"{rig.service_url('payments')}{PAYMENTS}", headers)
    straggler.thread.start()
    assert straggler.sent.wait(timeout=30)
    return straggler


def test_payments_written_through_the_switch_and_back_are_on_both_owners(
    shop: SyncRig, token_env: Callable[[SyncRig], None]
) -> None:
    rig = shop
    token_env(rig)
    customer = rig.bearer(f"payer-{random_suffix()}")
    writer = PaymentWriter(rig.monolith_url, customer)
    _through_the_switch_and_back(rig, "payments", writer)
    paths = [payment_path(p) for p in writer.refunds]
    _await_same_on_both(rig, "payments", paths, customer)
    with httpx.Client(headers=customer, timeout=10) as http:
        for payment_id, refunds in writer.refunds.items():
            body = http.get(f"{rig.monolith_url}{payment_path(payment_id)}").json()
            assert len(body["refunds"]) == refunds  # each accepted refund once
    # A write still on its way to the service when the route moves back is refused
    # (503) by the service, frozen while it settles: not taken as a write of no source.
    # Its body arrives while the switch settles (the route moved, the service frozen).
    straggler = _straggling_write(rig, customer)
    assert switch(owners(rig, "payments"), "reverse").changed
    back = switch(owners(rig, "payments"), "forward", sleep=straggler.arrive_during)
    assert back.changed
    assert straggler.answer() == (503, "1")
    _await_same_on_both(rig, "payments", [f"{PAYMENTS}?page_size=500"], customer)
    assert _dead_letters(rig)["count"] == 0
    assert rig.sync_stats("payments")["dead_letters"] == 0
    # The CLI runs the same switch, moving the write route inside it: there and back.
    routes = rig.routes_file
    for target, mode in (("reverse", "extracted"), ("forward", "monolith")):
        done = rig.strangler_sync("switch", "payments", target, "--route", "payments-writes")
        assert done.returncode == 0, done.stderr
        assert "takes the writes of payments" in done.stdout
        assert "moved the write route" in done.stdout
        table = load_route_table(routes)
        [route] = [r for r in table.routes if r.name == "payments-writes"]
        assert route.mode == mode
    status = rig.strangler_sync("status", "-c", "payments", "--json")
    assert status.returncode == 0, status.stderr
    direction = json.loads(status.stdout)["payments"]["direction"]
    assert (direction["monolith"], direction["service"]) == ("forward", "forward")
    assert direction["reverse_pending"] == 0


def test_orders_written_through_the_switch_and_back_are_on_both_owners(
    shop: SyncRig, token_env: Callable[[SyncRig], None]
) -> None:
    # The saga reserves and pays at the monolith (the default routes: both stay forward).
    rig = shop
    token_env(rig)
    customer = rig.bearer(f"buyer-{random_suffix()}")
    sku = rig.create_product(on_hand=100_000)["sku"]
    writer = OrderWriter(rig.monolith_url, customer, sku)
    _through_the_switch_and_back(rig, "orders", writer, at_least=10)
    paths = [order_path(o) for o in writer.placed]
    _await_same_on_both(rig, "orders", paths, customer)
    with httpx.Client(headers=customer, timeout=10) as http:
        listed = http.get(f"{rig.monolith_url}{ORDERS}?page_size=500").json()
    assert sorted(o["id"] for o in listed["results"]) == sorted(writer.placed)
    assert {o["id"] for o in listed["results"] if o["status"] == "cancelled"} == (writer.cancelled)
    # The stock reserved for each confirmed order, once (the saga reserved on the monolith).
    product = httpx.get(f"{rig.monolith_url}/api/inventory/products/{sku}/").json()
    assert product["reserved"] == len(writer.placed) - len(writer.cancelled)
    assert _dead_letters(rig)["count"] == 0


def test_an_order_before_its_payment_and_a_switch_the_saga_could_not_follow(
    tmp_path: Path,
    redis_env: dict[str, str],
    token_env: Callable[[SyncRig], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with running_rig(
        tmp_path,
        redis_env,
        services=("payments", "orders"),
        saga_calls_services=("payments",),
    ) as rig:
        token_env(rig)
        customer = rig.bearer(f"buyer-{random_suffix()}")
        sku = rig.create_product(on_hand=10)["sku"]

        def both() -> tuple[tuple[str, str], tuple[str, str]]:
            with httpx.Client() as http:
                return directions(http, owners(rig, "payments")), directions(
                    http, owners(rig, "orders")
                )

        with (
            rig.workers("worker-monolith", "worker-payments", "worker-orders"),
            rig.relay(),
            service_relay(rig, "orders"),
        ):
            # The saga pays at the payments service directly (an override, as behind a mesh),
            # which is not payments' source yet.
            refused = rig.strangler_sync("switch", "orders", "reverse")
            assert refused.returncode == 1
            assert len(refused.stderr.strip().splitlines()) == 1
            assert "does not take the payments writes" in refused.stderr
            assert "unset ORDERS_PAYMENTS_URL" in refused.stderr
            assert both() == (("forward", "forward"), ("forward", "forward"))

            assert switch(owners(rig, "payments"), "reverse").changed
            assert switch(owners(rig, "orders"), "reverse").changed
            assert both() == (("reverse", "reverse"), ("reverse", "reverse"))

            # No relay for payments yet: the order reaches the monolith before its payment.
            with httpx.Client(headers=customer, timeout=30) as http:
                placed = http.post(
                    f"{rig.service_url('orders')}{ORDERS}", json=checkout_body([(sku, 2)])
                )
                assert placed.status_code == 201, placed.text
                order = placed.json()
                payment = payment_path(order["payment_id"])
                wait_for(
                    lambda: (
                        http.get(f"{rig.monolith_url}{order_path(order['id'])}").json() == order
                    ),
                    message="the order applied by the monolith",
                )
                assert http.get(f"{rig.monolith_url}{payment}").status_code == 404
                assert http.get(f"{rig.service_url('payments')}{payment}").status_code == 200
                assert _dead_letters(rig)["count"] == 0
                # The plan's gate on the payments reverse flow sees the payment waiting.
                for name in ("STRANGLER_MONOLITH_URL", "STRANGLER_PAYMENTS_URL"):
                    monkeypatch.setenv(name, rig.env[name])
                assert not _reverse_backlog_gate("payments").passed
                with service_relay(rig, "payments"):
                    _await_same_on_both(rig, "payments", [payment], customer)
            assert _dead_letters(rig)["count"] == 0
            gate = _reverse_backlog_gate("payments")
            assert gate.passed, gate.observed
            assert gate.observed.startswith("monolith reverse, service reverse; pending 0")

            # An event of the monolith's own origin coming back is a loop: parked, not applied.
            sender = rig.sender(monkeypatch)
            looped = from_service(order_state(), "order", origin="monolith")
            sender.send_task(task_name("monolith", "apply_events"), args=[[looped]])
            parked = wait_for(
                lambda: _dead_letters(rig) if _dead_letters(rig)["count"] == 1 else {},
                message="the looped event parked",
            )
            assert "loop" in parked["dead_letters"][0]["error"]
            for capability in ("payments", "orders"):
                status = rig.strangler_sync("status", "-c", capability, "--json")
                assert status.returncode == 0, status.stderr
                direction = json.loads(status.stdout)[capability]["direction"]
                assert (direction["monolith"], direction["service"]) == ("reverse", "reverse")


class Checkouts(threading.Thread):
    """A customer checking out one unit at a time through the façade, without pause. Each
    answer is a confirmed order (201) or a clean refusal (503: nothing ordered, or a freeze);
    anything else, or no answer, is an error."""

    def __init__(self, proxy_url: str, headers: dict[str, str], sku: str) -> None:
        super().__init__(daemon=True)
        self.proxy_url, self.headers, self.sku = proxy_url, headers, sku
        self.confirmed: list[dict[str, Any]] = []
        self.refused = 0
        self.errors: list[str] = []
        self.halt = threading.Event()

    def settled_after(self, confirmed: int) -> bool:
        """``confirmed`` orders confirmed by now, or an error (the test then reports it)."""
        return bool(self.errors) or len(self.confirmed) >= confirmed

    def run(self) -> None:
        with httpx.Client(base_url=self.proxy_url, headers=self.headers, timeout=30) as http:
            while not self.halt.is_set():
                try:
                    answer = http.post(ORDERS, json=checkout_body([(self.sku, 1)]))
                except httpx.HTTPError as err:
                    self.errors.append(repr(err))
                    return
                if answer.status_code == 201 and answer.json()["status"] == "confirmed":
                    self.confirmed.append(answer.json())
                elif answer.status_code == 503:
                    self.refused += 1
                else:
                    self.errors.append(f"{answer.status_code} {answer.text}")
                    return


def _listed(
    rig: SyncRig, base_url: str, path: str, headers: dict[str, str]
) -> list[dict[str, Any]]:
    answer = rig.http.get(f"{base_url}{path}?page_size=500", headers=headers)
    assert answer.status_code == 200, answer.text
    return sorted(answer.json()["results"], key=lambda row: str(row["id"]))


def _books_balance(rig: SyncRig, customer: dict[str, str], sku: str, orders: set[str]) -> bool:
    """Confirmed orders, the stock reserved for them and their captured payments agree, on the
    monolith and on each service; else an ``AssertionError`` saying what differs."""
    mono, service = rig.monolith_url, rig.service_url
    held = {
        mono: _listed(rig, mono, ORDERS, customer),
        "orders": _listed(rig, service("orders"), ORDERS, customer),
    }
    assert held[mono] == held["orders"], "the owners' orders differ"
    confirmed = {o["id"]: o for o in held[mono] if o["status"] == "confirmed"}
    assert set(confirmed) == orders, (sorted(confirmed), sorted(orders))
    paid = [_listed(rig, base, PAYMENTS, customer) for base in (mono, service("payments"))]
    assert paid[0] == paid[1], "the owners' payments differ"
    captured = {p["id"] for p in paid[0] if p["status"] == "captured"}
    assert captured == {o["payment_id"] for o in confirmed.values()}, "captured != confirmed"
    monolith_stock, service_stock = rig.product_on_both(sku)
    assert monolith_stock == service_stock, "the owners' stock differs"
    assert monolith_stock[1]["reserved"] == len(confirmed), monolith_stock
    return True


def test_checkouts_through_the_facade_follow_every_flip_of_inventory_and_payments(
    shop: SyncRig, token_env: Callable[[SyncRig], None]
) -> None:
    rig = shop
    token_env(rig)
    customer = rig.bearer(f"buyer-{random_suffix()}")
    sku = rig.create_product(on_hand=100_000)["sku"]
    wait_for(lambda: rig.product_synced(sku), message="the product in the service")

    def sync_switch(capability: str, target: str) -> None:
        done = rig.strangler_sync("switch", capability, target, "--route", f"{capability}-writes")
        assert done.returncode == 0, done.stderr
        rig.routes_served()

    # The orders service takes checkout: its saga calls through the façade, which the
    # switch accepts whatever inventory and payments do later.
    sync_switch("orders", "reverse")
    checkouts = Checkouts(rig.proxy_url, customer, sku)
    flips: list[tuple[str, Callable[[], None]]] = [
        (
            "inventory reads canary",
            lambda: rig.set_route("inventory-reads", mode="canary", percent=50),
        ),
        (
            "inventory reads extracted",
            lambda: rig.set_route("inventory-reads", mode="extracted"),
        ),
        ("inventory writes reverse", lambda: sync_switch("inventory", "reverse")),
        (
            "payments reads extracted",
            lambda: rig.set_route("payments-reads", mode="extracted"),
        ),
        ("payments writes reverse", lambda: sync_switch("payments", "reverse")),
        ("payments writes forward", lambda: sync_switch("payments", "forward")),
        ("inventory writes forward", lambda: sync_switch("inventory", "forward")),
        (
            "inventory reads monolith",
            lambda: rig.set_route("inventory-reads", mode="monolith"),
        ),
        (
            "payments reads monolith",
            lambda: rig.set_route("payments-reads", mode="monolith"),
        ),
    ]
    checkouts.start()
    try:
        for what, flip in flips:
            wanted = len(checkouts.confirmed) + 3
            flip()
            wait_for(
                partial(checkouts.settled_after, wanted),
                timeout=60,
                message=f"checkouts confirmed after {what}",
            )
            assert checkouts.errors == [], (what, checkouts.errors)
    finally:
        checkouts.halt.set()
        checkouts.join(timeout=60)
    assert checkouts.errors == []
    sync_switch("orders", "forward")
    placed = {o["id"] for o in checkouts.confirmed}
    wait_for(
        lambda: _books_balance(rig, customer, sku, placed),
        timeout=60,
        message="the books to balance on every owner",
    )
    stuck = httpx.get(f"{rig.service_url('orders')}/internal/sagas/stuck", timeout=10)
    assert stuck.json()["count"] == 0
    assert _dead_letters(rig)["count"] == 0
    for capability in ("inventory", "payments", "orders"):
        assert rig.sync_stats(capability)["dead_letters"] == 0
