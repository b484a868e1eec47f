"""Small steps the payments API tests share (through the HTTP API), and database counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from extracted.payments.models import OutboxEvent, Payment
from monolith.identity.models import User
from tests.extracted.asgi_client import BlockingASGIClient
from tests.extracted.payments.conftest import bearer
from tests.support.payments_api import PAYMENTS, payment_body, payment_path


def create_payment(client: BlockingASGIClient, user: User, **overrides: Any) -> dict[str, Any]:
    resp = client.post(PAYMENTS, json=payment_body(**overrides), headers=bearer(user))
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


def act(client: BlockingASGIClient, user: User, payment_id: str, action: str, **kw: Any) -> Any:
    return client.post(payment_path(payment_id, action), headers=bearer(user), **kw)


def payments_of(sessions: sessionmaker[Session], customer: User) -> int:
    with sessions() as session:
        query = select(func.count()).select_from(Payment).where(Payment.customer_id == customer.id)
        return session.scalar(query) or 0


def events_of(sessions: sessionmaker[Session], payment_id: str) -> list[OutboxEvent]:
    with sessions() as session:
        return list(
            session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.aggregate_id == payment_id)
                .order_by(OutboxEvent.seq)
            )
        )
