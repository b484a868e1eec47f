"""Reverse sync and the direction switch on real processes: gunicorn, uvicorn, both Celery
workers, the forward relay and the service relay, PostgreSQL and Redis.

The switch is proven by writing continuously through it, both ways: every write answered 2xx
must be on both sides afterwards (on_hand = start + accepted adjustments, on both owners), none
twice, and the monolith's outbox gains nothing while it only applies the service's events.

The module shares one rig and its workers; each test starts with both owners forward, an empty
outbox and no dead letter on the monolith, as on a rig of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from celery import Celery

from strangler.stack import service_relay_argv
from sync.control.direction import DrainTimeout, Owners, directions, switch, write_direction
from sync.task_names import task_name
from tests.extracted.inventory.factories import envelope, product_state, reservation_state
from tests.support.inventory_api import (
    adjustment_body,
    adjustments_path,
    product_path,
    reservation_path,
)
from tests.support.processes import ServerProcess
from tests.support.random_refs import random_sku, random_suffix
from tests.support.waiting import wait_for
from tests.sync.rig import SyncRig, running_rig
from tests.sync.workers import wait_until_ready
from tests.sync.writer import Writer

pytestmark = pytest.mark.slow

START = 1000


@pytest.fixture(scope="module")
def shared_rig(
    tmp_path_factory: pytest.TempPathFactory, module_redis_env: dict[str, str]
) -> Iterator[SyncRig]:
    """The sync rig (its owners take the rig's sync token)."""
    with running_rig(tmp_path_factory.mktemp("reverse-sync"), module_redis_env) as r:
        yield r


@pytest.fixture
def rig(shared_rig: SyncRig) -> SyncRig:
    """The module's rig as a fresh one: both owners forward, an empty outbox, no dead letter on
    the monolith."""
    with pytest.MonkeyPatch.context() as patch, httpx.Client() as http:
        shared_rig.hold_sync_token(patch)
        write_direction(http, owners(shared_rig).monolith_direction_url(), "monolith", "forward")
        write_direction(http, owners(shared_rig).service_direction_url(), "service", "forward")
    shared_rig.empty_outbox()
    shared_rig.empty_monolith_dead_letters()
    return shared_rig.for_test()


@pytest.fixture
def token_env(rig: SyncRig, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process (which drives the switch) holds the token too."""
    rig.hold_sync_token(monkeypatch)


def owners(rig: SyncRig) -> Owners:
    return Owners("inventory", rig.monolith_url, rig.inventory_url)


@contextmanager
def service_relay(rig: SyncRig) -> Iterator[ServerProcess]:
    """The stack's reverse relay, of the inventory service only, once it listens."""
    argv = service_relay_argv("inventory")
    with ServerProcess(
        f"relay-inventory-{random_suffix()}", argv, env=rig.env, log_dir=rig.log_dir
    ) as p:
        wait_until_ready(p)
        yield p


class StockWriter(Writer):
    """Adjusts the products' stock by +1, round robin, as staff."""

    def __init__(self, rig: SyncRig, skus: list[str]) -> None:
        super().__init__(rig.monolith_url, headers=rig.staff)
        self.skus = skus
        self.accepted = dict.fromkeys(skus, 0)
        self.n = 0

    def step(self, client: httpx.Client, target: str) -> httpx.Response:
        sku = self.skus[self.n % len(self.skus)]
        return client.post(f"{target}{adjustments_path(sku)}", json=adjustment_body(delta=1))

    def accept(self, answer: httpx.Response) -> None:
        self.accepted[answer.json()["sku"]] += 1
        self.n += 1


def _on_hand(http: httpx.Client, base_url: str, sku: str) -> tuple[int, int]:
    body = http.get(f"{base_url}{product_path(sku)}").json()
    return body["on_hand"], body["version"]


def _converged(rig: SyncRig, writer: StockWriter) -> bool:
    for sku in writer.skus:
        expected = START + writer.accepted[sku]
        monolith, service = (
            _on_hand(rig.http, rig.monolith_url, sku),
            _on_hand(rig.http, rig.inventory_url, sku),
        )
        if monolith != service or monolith[0] != expected:
            return False
    return True


@pytest.mark.usefixtures("token_env")
def test_writes_through_the_switch_and_back_lose_nothing(rig: SyncRig) -> None:
    rig.shared_workers("worker-monolith", "worker-inventory")
    with rig.relay(), service_relay(rig):
        skus = [rig.create_product(on_hand=START)["sku"] for _ in range(4)]
        wait_for(lambda: all(rig.product_synced(s) for s in skus), message="products synced")
        writer = StockWriter(rig, skus)
        writer.start()
        try:
            wait_for(lambda: writer.total(rig.monolith_url) >= 30, message="forward writes")

            def to_service() -> None:
                writer.target = rig.inventory_url

            report = switch(owners(rig), "reverse", move_route=to_service, drain_timeout_s=60)
            assert report.changed, report.steps
            with httpx.Client() as http:
                assert directions(http, owners(rig)) == ("reverse", "reverse")
            outbox_total = rig.outbox_stats()["total"]
            wait_for(lambda: writer.total(rig.inventory_url) >= 30, message="reverse writes")
            # The service's writes reach the monolith ...
            writer_snapshot = dict(writer.accepted)
            wait_for(
                lambda: all(
                    _on_hand(rig.http, rig.monolith_url, s)[0] >= START + writer_snapshot[s]
                    for s in skus
                ),
                timeout=60,
                message="reverse events applied by the monolith",
            )
            # ... and applying them recorded nothing in its outbox: nothing travels forward again.
            assert rig.outbox_stats()["total"] == outbox_total

            def to_monolith() -> None:
                writer.target = rig.monolith_url

            back = switch(owners(rig), "forward", move_route=to_monolith, drain_timeout_s=60)
            assert back.changed, back.steps
            before = writer.total(rig.monolith_url)
            wait_for(lambda: writer.total(rig.monolith_url) >= before + 30, message="writes again")
        finally:
            writer.halt.set()
            writer.join(timeout=30)
        assert writer.errors == []
        wait_for(lambda: _converged(rig, writer), timeout=60, message="both owners converged")
        with httpx.Client() as http:
            assert directions(http, owners(rig)) == ("forward", "forward")
        assert rig.sync_stats()["dead_letters"] == 0
        letters = httpx.get(f"{rig.monolith_url}/internal/sync/dead-letters").json()
        assert letters["count"] == 0


@pytest.mark.usefixtures("token_env")
def test_a_drain_that_times_out_leaves_everything_as_it_was(rig: SyncRig) -> None:
    # No relay runs: the monolith's event stays pending, so the forward flow never drains.
    sku = rig.create_product(on_hand=5)["sku"]
    moved: list[str] = []
    with pytest.raises(DrainTimeout, match="pending in the monolith's outbox"):
        switch(owners(rig), "reverse", move_route=lambda: moved.append("x"), drain_timeout_s=1)
    assert moved == []
    with httpx.Client() as http:
        assert directions(http, owners(rig)) == ("forward", "forward")
    assert rig.adjust(sku, delta=1)["on_hand"] == 6  # the monolith takes writes again

    # A switch interrupted after its drain (the service took over, the monolith still frozen)
    # is finished by the next one, without a second drain.
    with httpx.Client() as http:
        write_direction(http, owners(rig).monolith_direction_url(), "monolith", "frozen")
        write_direction(http, owners(rig).service_direction_url(), "service", "reverse")
        report = switch(owners(rig), "reverse", move_route=lambda: moved.append("route"))
        assert report.changed and moved == ["route"]
        assert directions(http, owners(rig)) == ("reverse", "reverse")


def _sender(rig: SyncRig, monkeypatch: pytest.MonkeyPatch) -> Celery:
    return rig.sender(monkeypatch)


def test_poison_reverse_events_are_parked_by_the_monolith_and_replayed_by_the_cli(
    rig: SyncRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    sku = random_sku()
    orphan = {
        **envelope(reservation_state(lines=[(sku, 1)]), aggregate_type="reservation"),
        "origin": "inventory",
    }
    sender = _sender(rig, monkeypatch)
    rig.shared_workers("worker-monolith")
    sender.send_task(task_name("monolith", "apply_event"), args=[{"event_id": "garbled"}])
    sender.send_task(
        task_name("monolith", "apply_event"), args=[orphan]
    )  # names a product not there yet

    def listed() -> dict[str, Any]:
        done = rig.strangler_sync("dead-letters", "list", "--owner", "monolith")
        assert done.returncode == 0, done.stderr
        return {"out": done.stdout} if "Dead letters: 2" in done.stdout else {}

    wait_for(listed, timeout=30, message="two dead letters on the monolith")
    rig.create_product(sku=sku, on_hand=5)
    replayed = rig.strangler_sync("dead-letters", "replay", "--all", "--owner", "monolith")
    assert replayed.returncode == 1  # the garbled one fails again
    assert "1 replayed, 1 failed" in replayed.stdout
    assert "replayed, applied" in replayed.stdout
    monolith, _ = rig.reservation_on_both(orphan["aggregate_id"])
    assert monolith[0] == 200 and monolith[1]["lines"] == [{"sku": sku, "quantity": 1}]
    status = rig.strangler_sync("status", "-c", "inventory", "--json")
    assert status.returncode == 0, status.stderr
    direction = json.loads(status.stdout)["inventory"]["direction"]
    assert direction["monolith"] == direction["service"] == "forward"
    assert direction["monolith_dead_letters"] == 1
    table = rig.strangler_sync("status", "-c", "inventory", COLUMNS="200")
    assert "Direction (reverse sync" in table.stdout and "forward" in table.stdout


def _from_service(payload: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return {**envelope(payload, **kwargs), "origin": "inventory"}


def test_a_batch_message_applies_each_event_once_and_parks_only_its_poison_events(
    rig: SyncRig, monkeypatch: pytest.MonkeyPatch
) -> None:
    sku, missing_sku = random_sku(), random_sku()
    versions = [
        _from_service(product_state(sku=sku, version=v, on_hand=100 * v)) for v in (1, 2, 3)
    ]
    other = _from_service(product_state(version=1, on_hand=5))
    # A reservation naming a product the monolith lacks (its commit breaks a foreign key) and an
    # envelope that is no envelope: the two poison events of the second message.
    orphan = _from_service(
        reservation_state(lines=[(missing_sku, 1)]), aggregate_type="reservation"
    )
    garbled = {"event_id": "garbled"}
    outbox_before = rig.outbox_stats()["total"]
    sender = _sender(rig, monkeypatch)
    rig.shared_workers("worker-monolith")
    # Out of version order, one event twice in the message and again in the next one.
    v1, v2, v3 = versions
    sender.send_task(task_name("monolith", "apply_events"), args=[[v3, v1, other, v1, v2]])
    sender.send_task(task_name("monolith", "apply_events"), args=[[orphan, v2, garbled]])

    def letters() -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(
            f"{rig.monolith_url}/internal/sync/dead-letters", timeout=10
        ).json()
        return body if body["count"] == 2 else {}

    parked = wait_for(letters, timeout=30, message="the two poison events parked")
    assert {d["event_id"] for d in parked["dead_letters"]} == {orphan["event_id"], "garbled"}
    wait_for(
        lambda: rig.get(rig.monolith_url, product_path(other["aggregate_id"]))[0] == 200,
        message="the other product applied",
    )
    status, body = rig.get(rig.monolith_url, product_path(sku))
    assert status == 200 and (body["on_hand"], body["version"]) == (300, 3)  # the newest wins
    assert rig.get(rig.monolith_url, reservation_path(orphan["aggregate_id"]))[0] == 404
    # Each event applied once: the monolith's inbox holds each id once (its drain question).
    ids = [e["event_id"] for e in (*versions, other, orphan)]
    answer = httpx.post(
        f"{rig.monolith_url}/internal/sync/processed",
        json={"event_ids": ids},
        headers=rig.sync_auth(),
        timeout=10,
    ).json()
    assert answer == {"missing": [orphan["event_id"]]}
    # Nothing applied here was recorded in the monolith's outbox: nothing travels forward again.
    assert rig.outbox_stats()["total"] == outbox_before
