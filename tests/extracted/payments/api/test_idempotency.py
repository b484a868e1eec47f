"""``Idempotency-Key`` on the service's writes with the monolith's semantics, including
duplicates racing on real concurrent PostgreSQL connections."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from card_gateway.fake import gateway_charge_count
from extracted.payments.models import IdempotencyRecord
from monolith.identity.models import User
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.payments.api.helpers import create_payment, payments_of
from tests.extracted.payments.conftest import bearer
from tests.support.payments_api import PAYMENTS, idempotency_key, payment_body, payment_path
from tests.support.waiting import wait_for


def _post(client: BlockingASGIClient, user: User, path: str, key: dict[str, str], **kw: Any) -> Any:
    return client.post(path, headers={**bearer(user), **key}, **kw)


def _records(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(IdempotencyRecord)) or 0


def test_the_same_key_twice_charges_once_and_replays_the_same_bytes(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    key, charges_before = idempotency_key(), gateway_charge_count()
    first = _post(client, customer, PAYMENTS, key, json=payment_body())
    again = _post(client, customer, PAYMENTS, key, json=payment_body())
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert payments_of(sessions, customer) == 1
    assert gateway_charge_count() == charges_before + 1


def test_the_same_key_for_another_request_is_422(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    key = idempotency_key()
    assert _post(client, customer, PAYMENTS, key, json=payment_body()).status_code == 201
    # Same body, keys in another order: the same request.
    reordered = {"card_token": "tok_visa", "amount": "20.00"}
    assert _post(client, customer, PAYMENTS, key, json=reordered).status_code == 201
    resp = _post(client, customer, PAYMENTS, key, json=payment_body(amount="20.01"))
    assert (resp.status_code, resp.json()) == (
        422,
        {
            "error": "idempotency_key_reused",
            "detail": "This Idempotency-Key was already used for a different request.",
        },
    )
    assert payments_of(sessions, customer) == 1


def test_a_decline_is_replayed_not_tried_again(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    key, body = idempotency_key(), payment_body(card_token="tok_decline_do_not_honor")
    first = _post(client, customer, PAYMENTS, key, json=body)
    again = _post(client, customer, PAYMENTS, key, json=body)
    assert (first.status_code, again.status_code, again.content) == (402, 402, first.content)
    assert payments_of(sessions, customer) == 1


def test_refusals_that_did_not_run_are_not_kept(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    key = idempotency_key()
    bad = _post(client, customer, PAYMENTS, key, json=payment_body(card_token="tok_error"))
    assert bad.status_code == 502
    assert _post(client, customer, PAYMENTS, key, json=payment_body(amount="0")).status_code == 400
    assert _records(sessions) == 0
    retried = _post(client, customer, PAYMENTS, key, json=payment_body())
    assert (retried.status_code, "Idempotent-Replayed" in retried.headers) == (201, False)


def test_keys_are_per_caller(
    client: BlockingASGIClient, customer: User, other_customer: User
) -> None:
    key = idempotency_key()
    mine = _post(client, customer, PAYMENTS, key, json=payment_body())
    theirs = _post(client, other_customer, PAYMENTS, key, json=payment_body())
    assert mine.json()["id"] != theirs.json()["id"]
    assert "Idempotent-Replayed" not in theirs.headers


def test_a_malformed_key_is_a_400(client: BlockingASGIClient, customer: User) -> None:
    for key in ["", "has space", "x" * 256]:
        resp = _post(client, customer, PAYMENTS, {"Idempotency-Key": key}, json=payment_body())
        assert (resp.status_code, resp.json()["fields"]) == (
            400,
            {"Idempotency-Key": ["Must be 1 to 255 visible ASCII characters."]},
        ), key


def test_refunds_with_a_key_refund_once_and_a_refused_refund_is_kept(
    client: BlockingASGIClient, customer: User
) -> None:
    payment = create_payment(client, customer, amount="10.00", capture=True)
    key, path = idempotency_key(), payment_path(payment["id"], "refunds")
    first = _post(client, customer, path, key, json={"amount": "4.00"})
    again = _post(client, customer, path, key, json={"amount": "4.00"})
    assert (first.status_code, again.status_code, again.content) == (201, 201, first.content)
    refused_key = idempotency_key()
    assert _post(client, customer, path, refused_key, json={"amount": "7.00"}).status_code == 409
    replay = _post(client, customer, path, refused_key, json={"amount": "7.00"})
    assert (replay.status_code, replay.json()["refundable"]) == (409, "6.00")
    assert replay.headers["Idempotent-Replayed"] == "true"
    final = client.get(payment_path(payment["id"]), headers=bearer(customer)).json()
    assert (final["refunded_amount"], len(final["refunds"])) == ("4.00", 1)


def test_a_dry_run_keeps_no_record(
    client: BlockingASGIClient, customer: User, sessions: sessionmaker[Session]
) -> None:
    key = idempotency_key()
    dry = {**key, "X-Strangler-Dry-Run": "1"}
    assert _post(client, customer, PAYMENTS, dry, json=payment_body()).status_code == 201
    real = _post(client, customer, PAYMENTS, key, json=payment_body())
    assert (real.status_code, "Idempotent-Replayed" in real.headers) == (201, False)
    assert (payments_of(sessions, customer), _records(sessions)) == (1, 1)


def _waiting_on_locks(admin: psycopg.Connection[Any]) -> int:
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_concurrent_duplicates_make_one_payment_and_one_charge_on_postgres(
    app: FastAPI, payments_url: str, customer: User, sessions: sessionmaker[Session]
) -> None:
    """Four duplicates meet at once: inserts into ``payments`` are held by this test's lock, so
    the first request waits there holding its key, and the other three wait on the key's unique
    index; then the lock goes and exactly one payment and one charge come out."""
    key, charges_before = idempotency_key(), gateway_charge_count()
    headers = {**bearer(customer), **key}
    outcomes: list[httpx.Response | BaseException] = []

    def send() -> None:
        c = BlockingASGIClient(app)
        try:
            outcomes.append(c.post(PAYMENTS, json=payment_body(capture=True), headers=headers))
        except BaseException as exc:
            outcomes.append(exc)
        finally:
            c.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    with psycopg.connect(payments_url, autocommit=True) as admin:
        with psycopg.connect(payments_url) as holder:
            holder.execute("LOCK TABLE payments IN SHARE ROW EXCLUSIVE MODE")
            for thread in threads:
                thread.start()
            wait_for(
                lambda: _waiting_on_locks(admin) >= 4,
                timeout=20,
                message="every duplicate to block on a lock",
            )
            holder.rollback()
        for thread in threads:
            thread.join(timeout=60)
    responses = [o for o in outcomes if isinstance(o, httpx.Response)]
    assert len(responses) == 4, outcomes
    assert [r.status_code for r in responses] == [201] * 4
    assert len({r.content for r in responses}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "") for r in responses) == [
        "",
        "true",
        "true",
        "true",
    ]
    assert payments_of(sessions, customer) == 1
    assert gateway_charge_count() == charges_before + 1
