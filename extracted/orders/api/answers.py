"""What a checkout or a cancel answers, from its saga (and the order it stored).

The same bodies as the monolith (docs/orders-api.md, *Checkout*): a refused checkout answers with
the error of its reason plus the stored ``cancelled`` order under ``"order"``. Two answers are the
service's own: 503 ``service_unavailable`` when an upstream cannot be reached (no order is kept;
whatever a step did is undone), and 503 while a cancel waits for an upstream to come back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from extracted.orders import selectors, states
from extracted.orders.models import Order, Saga
from extracted.orders.outbox import order_body

Answer = tuple[int, dict[str, Any]]


def unavailable(upstream: str, what: str = "nothing was ordered") -> Answer:
    return 503, {
        "error": "service_unavailable",
        "detail": f"The {upstream} service is unavailable; {what}.",
        "upstream": upstream,
    }


def saga_answer(sessions: sessionmaker[Session], saga: Saga) -> Answer | None:
    """The client's answer for ``saga`` (``None``: a checkout whose outcome is not known)."""
    with sessions() as session:
        order = selectors.order_get(session, order_id=saga.order_id, scope=None)
    if saga.kind == states.CANCEL:
        return cancel_answer(saga, order)
    return checkout_answer(saga, order)


def checkout_answer(saga: Saga, order: Order | None) -> Answer | None:
    """The checkout's answer once its outcome is decided, else ``None`` (still running)."""
    if saga.state == states.CONFIRMED:
        assert order is not None
        return 201, order_body(order)
    detail = saga.failure_detail or {}
    if saga.failure == states.UNAVAILABLE:
        return unavailable(str(detail.get("upstream", "upstream")))
    if saga.failure is None or order is None:
        return None
    body = order_body(order)
    if saga.failure == states.INSUFFICIENT_STOCK:
        return 409, {
            "error": "insufficient_stock",
            "detail": "Insufficient stock.",
            "shortages": detail.get("shortages", []),
            "order": body,
        }
    if saga.failure == states.PAYMENT_DECLINED:
        return 402, {
            "error": "payment_declined",
            "detail": "The card was declined.",
            "reason": detail.get("reason", "declined"),
            "order": body,
        }
    return 502, {
        "error": "gateway_error",
        "detail": "The card gateway failed; nothing was charged.",
        "order": body,
    }


def cancel_answer(saga: Saga, order: Order | None) -> Answer:
    if saga.state == states.CANCELLED:
        assert order is not None
        return 200, order_body(order)
    if saga.state == states.REFUSED:
        return 409, dict(saga.failure_detail or {})
    if saga.state == states.ABORTED:
        return unavailable(
            str((saga.failure_detail or {}).get("upstream", "inventory")), "nothing changed"
        )
    upstream = "inventory" if saga.state == states.RELEASING else "payments"
    return unavailable(upstream, "the cancel will complete when it answers again")
