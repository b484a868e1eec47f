"""Reconciliation of reservations, payments and orders end to end: the monolith and the three
services as real servers on real PostgreSQL, rows written through the monolith's API and carried
to their owners by the relay, Redis and each owner's worker. Equal tables are clean; drift made
behind sync's back with direct SQL in a service's database (a field of a row, a child row: a
refund's amount, an order's or a reservation's line; a missing and an extra row) is found with
its fields named and repaired by `strangler sync reconcile --repair`; a row a live event moved
on after the report is left alone by the repair.

Every test leaves the tables equal again, so the module shares one rig.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest

from protocol.reconcile_spec import SPECS
from sync.control.reconcile import compare, repair
from sync.control.reconcile_http import MonolithSide, ServiceSide
from tests.support.orders_stack import ORDERS, checkout_body, order_path
from tests.support.payments_api import PAYMENTS, payment_body, payment_path
from tests.support.waiting import wait_for
from tests.sync.customers import Customer
from tests.sync.rig import SyncRig, running_rig

pytestmark = pytest.mark.slow

OWNERS = ("inventory", "payments", "orders")
#: The exit status of a reconciliation that found drift (and did not repair it).
DRIFT = 3
#: Small splits, so that a few rows still take the bisection through its levels.
SPLIT = ("--parts", "4", "--leaf-rows", "3")


@dataclass
class Shop:
    rig: SyncRig
    customer: Customer
    #: Keys written through the monolith, per aggregate, in writing order.
    keys: dict[str, list[str]]


def _caught_up(rig: SyncRig) -> bool:
    for owner in OWNERS:
        url = f"{rig.monolith_url}/internal/outbox/stats?capability={owner}"
        total = rig.http.get(url).json()["total"]
        if rig.sync_stats(owner)["events_processed"] != total:
            return False
    return True


@pytest.fixture(scope="module")
def shop(
    tmp_path_factory: pytest.TempPathFactory, module_redis_env: dict[str, str]
) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp("reconcile-aggregates")
    with running_rig(tmp, module_redis_env, services=OWNERS) as rig, rig.relay():
        rig.shared_workers(*(f"worker-{owner}" for owner in OWNERS))
        customer = Customer(rig)
        skus = [rig.create_product(on_hand=100, price=price)["sku"] for price in ("4.50", "0.99")]
        reservations = [rig.reserve([(skus[0], n), (skus[1], 1)])["id"] for n in (1, 2, 3, 4)]
        payments = [customer.post(PAYMENTS, payment_body(amount=f"{n}0.00"))["id"] for n in (1, 2)]
        refunded = customer.post(PAYMENTS, payment_body(amount="30.00", capture=True))["id"]
        for amount in ("10.00", "5.00"):
            customer.post(payment_path(refunded, "refunds"), {"amount": amount})
        captured = customer.post(PAYMENTS, payment_body(amount="40.00"))["id"]
        customer.post(payment_path(captured, "capture"))
        orders = [
            customer.post(ORDERS, checkout_body([(skus[0], n), (skus[1], 2)]))["id"]
            for n in (1, 2, 3, 4)
        ]
        wait_for(lambda: _caught_up(rig), timeout=120, message="every event applied")
        yield Shop(
            rig,
            customer,
            {
                "reservations": reservations,
                # The refunded payment second: the drift test changes a refund of it.
                "payments": [payments[0], refunded, payments[1], captured],
                "orders": orders,
            },
        )


def reconcile(rig: SyncRig, *args: str) -> tuple[int, dict[str, Any]]:
    done = rig.strangler_sync("reconcile", "--json", *SPLIT, *args)
    assert done.returncode in (0, DRIFT), done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, report


def service_sql(rig: SyncRig, capability: str, statement: str, *params: object) -> None:
    url = rig.env[f"{capability.upper()}_DATABASE_URL"].replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(statement, params)


def service_sql_returning(
    rig: SyncRig, capability: str, statement: str, *params: object
) -> tuple[Any, ...]:
    url = rig.env[f"{capability.upper()}_DATABASE_URL"].replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(statement, params).fetchone()
    assert row is not None
    return tuple(row)


def test_equal_tables_are_clean_and_each_owner_records_its_runs(shop: Shop) -> None:
    rig = shop.rig
    code, answer = reconcile(rig, "--aggregate", "all")
    assert code == 0 and answer["drift_remains"] is False
    reports = answer["reports"]
    assert list(reports) == list(SPECS)
    for name, report in reports.items():
        assert report["clean"], report
        assert report["source_rows"] == report["target_rows"] >= len(shop.keys.get(name, []))
    # Every order reserved stock and took a payment: those rows are reconciled too.
    assert reports["reservations"]["source_rows"] == 4 + 4
    assert reports["payments"]["source_rows"] == 4 + 4
    for owner, aggregates in (
        ("inventory", ["products", "reservations"]),
        ("payments", ["payments"]),
        ("orders", ["orders"]),
    ):
        stats = rig.sync_stats(owner)
        assert sorted(stats["reconciliations"]) == aggregates
        assert all(run["clean"] for run in stats["reconciliations"].values())
        assert stats["last_reconciliation"]["aggregate"] == aggregates[-1]
    status = rig.strangler_sync("status", COLUMNS="200")
    assert status.returncode == 0, status.stderr
    assert "payments clean at" in status.stdout and "reservations clean at" in status.stdout


@dataclass(frozen=True)
class Drift:
    """How to corrupt an aggregate in its owner's database, and what reconciliation must say."""

    aggregate: str
    #: The child table and its column naming the parent.
    child_table: str
    parent_column: str
    #: SET clauses: on a parent row, and on one of another parent's child rows.
    parent_change: str
    child_change: str
    #: The fields the parent change makes differ.
    fields: list[str]
    #: Columns of the parent that must be unique (a copy gets a new value).
    unique: tuple[str, ...] = ()


DRIFTS = [
    Drift(
        "payments",
        "refunds",
        "payment_id",
        "gateway_reference = 'gw_corrupt', version = version + 5",
        "amount = amount - 1",
        ["gateway_reference", "version"],
    ),
    Drift(
        "orders",
        "order_lines",
        "order_id",
        "total = total + 1, version = version + 2",
        "quantity = quantity + 1",
        ["total", "version"],
    ),
    Drift(
        "reservations",
        "reservation_lines",
        "reservation_id",
        "status = 'released'",
        "quantity = quantity + 1",
        ["status"],
        unique=("order_id",),
    ),
]


def _synced(shop: Shop, aggregate: str, key: str) -> bool:
    if aggregate == "reservations":
        return shop.rig.reservation_synced(key)
    path = payment_path(key) if aggregate == "payments" else order_path(key)
    return shop.customer.synced(SPECS[aggregate].capability, path)


@pytest.mark.parametrize("drift", DRIFTS, ids=[d.aggregate for d in DRIFTS])
def test_drift_is_found_with_its_fields_and_repaired(shop: Shop, drift: Drift) -> None:
    rig, name = shop.rig, drift.aggregate
    spec = SPECS[name]
    owner = spec.capability
    table = {"payments": "payments", "orders": "orders", "reservations": "reservations"}[name]
    changed, child_changed, deleted, copied = shop.keys[name]
    service_sql(rig, owner, f"UPDATE {table} SET {drift.parent_change} WHERE id = %s", changed)
    service_sql(
        rig,
        owner,
        f"UPDATE {drift.child_table} SET {drift.child_change} WHERE ctid = (SELECT ctid FROM "
        f"{drift.child_table} WHERE {drift.parent_column} = %s LIMIT 1)",
        child_changed,
    )
    service_sql(rig, owner, f"DELETE FROM {table} WHERE id = %s", deleted)
    columns = [f.name for f in spec.fields[1:]]
    values = ["gen_random_uuid()" if c in drift.unique else c for c in columns]
    extra = service_sql_returning(
        rig,
        owner,
        f"INSERT INTO {table} (id, {', '.join(columns)}) SELECT gen_random_uuid(), "
        f"{', '.join(values)} FROM {table} WHERE id = %s RETURNING id::text, version",
        copied,
    )

    code, report = reconcile(rig, "--aggregate", name)
    assert code == DRIFT
    assert report["missing"] == [deleted]
    assert report["extra"] == [{"key": extra[0], "target_version": extra[1]}]
    found = {d["key"]: d["fields"] for d in report["different"]}
    assert spec.children is not None
    assert found == {changed: drift.fields, child_changed: [spec.children.name]}
    assert report["target_rows"] == report["source_rows"]
    assert rig.sync_stats(owner)["last_reconciliation"]["different"] == 2

    code, repaired = reconcile(rig, "--aggregate", name, "--repair")
    assert code == 0, repaired
    assert repaired["repair"] == {"written": 3, "deleted": 1, "skipped": 0}
    assert repaired["clean_after_repair"] is True
    for key in (changed, child_changed, deleted):
        assert _synced(shop, name, key), key
    assert reconcile(rig, "--aggregate", name)[1]["clean"]


def test_a_row_a_live_event_moved_on_after_the_report_is_left_alone(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig, customer = shop.rig, shop.customer
    rig.hold_sync_token(monkeypatch)  # this process drives the sides below
    payment = customer.post(PAYMENTS, payment_body(amount="12.00"))["id"]
    wait_for(lambda: customer.synced("payments", payment_path(payment)), message="the payment")
    corrupt = "UPDATE payments SET gateway_reference = 'gw_corrupt' WHERE id = %s"
    service_sql(rig, "payments", corrupt, payment)
    with httpx.Client() as client:
        source = MonolithSide(rig.monolith_url, client, "payments")
        target = ServiceSide(rig.service_url("payments"), client, "payments")
        report = compare(source, target, aggregate="payments", parts=4, leaf_rows=3)
        [drift] = report.different
        assert (drift.key, drift.fields) == (payment, ["gateway_reference"])

        # After the report, a live write reaches the service: the row it saw is gone.
        customer.post(payment_path(payment, "capture"))
        wait_for(lambda: customer.synced("payments", payment_path(payment)), message="capture")
        result = repair(source, target, report)
        assert (result.written, result.deleted, result.skipped) == (0, 0, 1)
        assert customer.synced("payments", payment_path(payment))
        assert compare(source, target, aggregate="payments").clean


def test_bad_options_and_an_unreachable_owner_are_one_line(shop: Shop) -> None:
    rig = shop.rig
    unknown = rig.strangler_sync("reconcile", "--aggregate", "refunds")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == (
        "strangler sync reconcile: unknown aggregate 'refunds': choose one of products, "
        "reservations, payments, orders, all"
    )
    down = rig.strangler_sync(
        "reconcile", "--aggregate", "payments", STRANGLER_PAYMENTS_URL="http://127.0.0.1:9"
    )
    assert down.returncode == 1
    assert down.stderr.startswith("strangler sync reconcile: the payments service at ")
    assert len(down.stderr.strip().splitlines()) == 1
