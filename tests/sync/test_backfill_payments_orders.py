"""The payments and orders backfills through real processes (the monolith and the services on
PostgreSQL, Redis, each side's Celery worker, `strangler sync backfill` as a user runs it): every
row the monolith holds lands in its owner's service, a resume after a SIGKILL of the owner's
worker redoes at most one page, rows changed while the relay is live end at their newest
version, and a poison page is refused with nothing of it applied. Pages travel as COPY text (the
default) unless a test says ``--wire json``.

The module shares one rig (its monolith seeded once) and its workers; each test starts from
empty services, so only its own backfill can have put rows there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import psycopg
import pytest

from sync.backfill_jobs import JOBS
from sync.task_names import BACKFILL_PAGE
from tests.support.inventory_api import all_products
from tests.support.orders_stack import ORDERS, checkout_body, order_path
from tests.support.processes import VENV_BIN
from tests.support.waiting import wait_for
from tests.sync.customers import Customer
from tests.sync.envelopes import take_pending_envelopes
from tests.sync.owner_states import monolith_states, service_states
from tests.sync.rig import SyncRig, running_rig
from tests.sync.workers import LogMark

pytestmark = pytest.mark.slow

PRODUCTS = 30
#: Orders the monolith's seed writes (each with its captured payment): enough for ten pages.
SEEDED = 200
PAGE = 20
OWNERS = ("payments", "orders")
SERVICES = ("inventory", *OWNERS)
KIND = {"payments": "payment", "orders": "order"}


@pytest.fixture(scope="module")
def seeded_rig(
    tmp_path_factory: pytest.TempPathFactory, module_redis_env: dict[str, str]
) -> Iterator[SyncRig]:
    """A monolith holding SEEDED fulfilled orders and their payments (no relay has carried
    them: only the backfill can), and the three services."""
    tmp = tmp_path_factory.mktemp("backfill-payments-orders")
    with running_rig(tmp, module_redis_env, seed_products=PRODUCTS, services=SERVICES) as rig:
        seeded = rig.run_program(
            str(VENV_BIN / "python"),
            "monolith/manage.py",
            "seed_orders",
            "--orders",
            str(SEEDED),
            "--products",
            str(PRODUCTS),
        )
        assert seeded.returncode == 0, seeded.stderr
        yield rig


@pytest.fixture
def rig(seeded_rig: SyncRig) -> SyncRig:
    """The module's rig with every service emptied (no rows, no checkpoints)."""
    seeded_rig.empty_service(*SERVICES)
    return seeded_rig


def checkouts(rig: SyncRig, customer: Customer, count: int) -> list[dict[str, Any]]:
    """``count`` confirmed orders (each with a captured payment) through the monolith's API."""
    sku = rig.create_product(on_hand=10 * count, price="4.50")["sku"]
    return [customer.post(ORDERS, checkout_body([(sku, 1 + n % 3)])) for n in range(count)]


def cancel(customer: Customer, order: dict[str, Any]) -> dict[str, Any]:
    """Cancel ``order``: it becomes ``cancelled`` and its payment is refunded (a refund row)."""
    return customer.post(order_path(order["id"], "cancel"))


def _done(rig: SyncRig, job: str) -> bool:
    checkpoint = rig.checkpoint(job)
    return checkpoint is not None and bool(checkpoint["done"])


def _equal(rig: SyncRig, kind: str) -> bool:
    return service_states(rig, kind) == monolith_states(rig, kind)


def test_all_copies_every_row_to_its_owner_and_status_shows_each_backfill(rig: SyncRig) -> None:
    customer = Customer(rig)
    cancelled = [cancel(customer, order) for order in checkouts(rig, customer, 4)[:2]]
    rig.shared_workers(*(f"worker-{side}" for side in ("monolith", *SERVICES)))
    # State dicts on the wire (the other tests take the default, COPY text).
    done = rig.strangler_sync(
        "backfill", "-a", "all", "--page-size", str(PAGE), "--wire", "json", "--wait"
    )
    assert done.returncode == 0, done.stderr
    status = rig.strangler_sync("status", COLUMNS="200")
    assert status.returncode == 0, status.stderr

    for job in ("products", "reservations", "payments", "orders"):
        assert f"{job}: started from the beginning" in done.stdout
    for owner in OWNERS:
        monolith = monolith_states(rig, KIND[owner])
        assert len(monolith) > SEEDED
        assert service_states(rig, KIND[owner]) == monolith
        checkpoint = rig.checkpoint(owner)
        assert checkpoint is not None
        # Split into the default 4 key ranges; each row copied once (no crash, no resume).
        assert (checkpoint["done"], checkpoint["rows"], checkpoint["ranges"]) == (
            True,
            len(monolith),
            4,
        )
        assert f"{owner}: done, {len(monolith)} rows in the checkpoint" in done.stdout
    payments = service_states(rig, "payment")
    assert [len(payments[order["payment_id"]]["refunds"]) for order in cancelled] == [1, 1]
    payments_rows = len(payments)
    assert all_products(rig.inventory_url) == all_products(rig.monolith_url)
    # The status table lists each capability's backfills beside its name.
    cells = [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in status.stdout.splitlines()
        if line.count("│") == 7
    ]
    assert ["payments", "payments", "4 ranges", str(payments_rows), "yes"] in [
        row[:5] for row in cells
    ], status.stdout
    assert ["orders", "orders#4"] in [row[:2] for row in cells], status.stdout


@pytest.mark.parametrize("job", OWNERS)
def test_a_backfill_killed_mid_way_resumes_redoing_at_most_one_page(
    rig: SyncRig, monkeypatch: pytest.MonkeyPatch, job: str
) -> None:
    owner = JOBS[job].capability
    one_chain = ("backfill", "-a", job, "--page-size", str(PAGE), "--parallel", "1")
    rig.shared_workers("worker-monolith")
    doomed = rig.take_worker(f"worker-{owner}")
    try:
        # Throttled, so the run is surely still under way when the worker dies.
        started = rig.strangler_sync(*one_chain, "--throttle", "100")
        assert started.returncode == 0, started.stderr
        assert f"{job}: started from the beginning" in started.stdout

        def under_way() -> bool:
            checkpoint = rig.checkpoint(job)
            return checkpoint is not None and checkpoint["rows"] >= 3 * PAGE

        wait_for(under_way, timeout=60, message="the backfill to be under way")
        doomed.kill()
    finally:
        doomed.stop()
    at_kill = rig.checkpoint(job)
    assert at_kill is not None and not at_kill["done"], "finished before the kill"

    # The worst case for a resume: the old run still has its next page in flight (as when
    # the worker died after asking for it). Both copies wait for the new worker.
    rig.sender(monkeypatch).send_task(
        BACKFILL_PAGE,
        kwargs={
            "job": job,
            "aggregate_type": JOBS[job].aggregate_type,
            "after_key": at_kill["last_key"],
            "page_size": PAGE,
        },
    )
    resumed = rig.strangler_sync(*one_chain)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{job}: resumed after {at_kill['last_key']!r}" in resumed.stdout
    wait_for(lambda: rig.queued(owner) >= 2, message="both copies of the page")

    [survivor] = rig.shared_workers(f"worker-{owner}")
    wait_for(lambda: _done(rig, job), timeout=120, message="the resumed backfill")

    monolith = monolith_states(rig, KIND[job])
    assert service_states(rig, KIND[job]) == monolith  # nothing lost
    done = rig.checkpoint(job)
    assert done is not None
    assert len(monolith) <= done["rows"] <= len(monolith) + PAGE  # at most one page twice
    assert f"backfill {job}: dropped the batch after" in survivor.log_path.read_text()


def test_rows_changed_while_the_relay_is_live_end_at_their_newest_version(rig: SyncRig) -> None:
    customer = Customer(rig)
    confirmed = checkouts(rig, customer, 6)
    # Everything written so far counts as "before the outbox": only the backfill carries it.
    take_pending_envelopes(rig)
    rig.shared_workers("worker-monolith", "worker-payments", "worker-orders")
    with rig.relay():
        for job in OWNERS:
            started = rig.strangler_sync(
                "backfill", "-a", job, "--page-size", str(PAGE), "--throttle", "30"
            )
            assert started.returncode == 0, started.stderr
        wait_for(
            lambda: all((rig.checkpoint(job) or {}).get("rows", 0) > 0 for job in OWNERS),
            message="both backfills under way",
        )
        # While both run: cancel orders (order v2, its payment refunded: a refund row), and
        # check out new ones; the relay carries each change to its owner as an event.
        cancelled = [cancel(customer, order) for order in confirmed]
        during = [rig.checkpoint(job) for job in OWNERS]
        assert not any(c and c["done"] for c in during), f"finished too early: {during}"
        placed = checkouts(rig, customer, 3)

        for job in OWNERS:
            wait_for(partial(_done, rig, job), timeout=120, message=f"the {job} backfill")
        for owner in OWNERS:
            wait_for(
                partial(_equal, rig, KIND[owner]),
                timeout=60,
                message=f"the {owner} service equal to the monolith",
            )
    orders = service_states(rig, "order")
    payments = service_states(rig, "payment")
    for order in cancelled:
        assert (orders[order["id"]]["status"], orders[order["id"]]["version"]) == ("cancelled", 2)
        payment = payments[order["payment_id"]]
        assert (payment["status"], len(payment["refunds"])) == ("refunded", 1)
    assert all(orders[order["id"]]["status"] == "confirmed" for order in placed)


@contextmanager
def _service_refuses(rig: SyncRig, owner: str, row_id: str) -> Iterator[None]:
    """A bug on the service's side, played by a CHECK constraint the monolith does not have,
    refusing one row; leaving the block is the fix."""
    url = rig.env[f"{owner.upper()}_DATABASE_URL"].replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {owner} ADD CONSTRAINT test_bug CHECK (id <> '{row_id}')")
        try:
            yield
        finally:
            conn.execute(f"ALTER TABLE {owner} DROP CONSTRAINT test_bug")


@pytest.mark.parametrize(
    ("job", "wire", "what"), [("payments", "copy", "page"), ("orders", "json", "batch")]
)
def test_a_poison_page_is_refused_with_a_log_line_and_nothing_of_it_applied(
    rig: SyncRig, job: str, wire: str, what: str
) -> None:
    owner = JOBS[job].capability
    monolith = monolith_states(rig, KIND[job])
    keys = sorted(monolith)
    poison = keys[2 * PAGE + PAGE // 2]  # in the third page
    one_chain = ("backfill", "-a", job, "--page-size", str(PAGE), "--parallel", "1", "--wire", wire)
    _, worker = rig.shared_workers("worker-monolith", f"worker-{owner}")
    logged = LogMark(worker)
    with _service_refuses(rig, owner, poison):
        started = rig.strangler_sync(*one_chain)
        assert started.returncode == 0, started.stderr
        wait_for(
            lambda: f"poison {what} after" in logged.text(),
            timeout=60,
            message="the poison page refused",
        )
        stuck = rig.checkpoint(job)
        held = service_states(rig, KIND[job])
    log = logged.text()
    # Fixed: a resume asks for the refused page again, and the job finishes.
    resumed = rig.strangler_sync(*one_chain, "--wait")
    assert resumed.returncode == 0, resumed.stderr

    assert f"backfill {job}: poison {what} after {keys[2 * PAGE - 1]!r} refused" in log
    assert "test_bug" in log and "Retry in" not in log
    assert stuck is not None and (stuck["last_key"], stuck["rows"]) == (keys[2 * PAGE - 1], 40)
    assert sorted(held) == keys[: 2 * PAGE]  # the two pages before it, nothing of the third
    assert service_states(rig, KIND[job]) == monolith
    done = rig.checkpoint(job)
    assert done is not None and (done["done"], done["rows"]) == (True, len(monolith))
