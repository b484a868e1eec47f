"""The saga's kinds, states and failure reasons (saga.py moves between them).

Checkout::

    reserving ──► charging ──► confirmed
        │             │
        └─────────────┴──► compensating ──► cancelled (order stored cancelled with its reason)
                                        └─► aborted   (an upstream was unavailable: no order)

Cancel::

    releasing ──► refunding ──► cancelled
        └──► refused (inventory cannot release: nothing changed)
        └──► aborted (inventory unreachable before anything was sent: nothing changed)
"""

from __future__ import annotations

CHECKOUT = "checkout"
CANCEL = "cancel"

RESERVING = "reserving"
CHARGING = "charging"
COMPENSATING = "compensating"
RELEASING = "releasing"
REFUNDING = "refunding"

CONFIRMED = "confirmed"
CANCELLED = "cancelled"
ABORTED = "aborted"
REFUSED = "refused"
TERMINAL = frozenset({CONFIRMED, CANCELLED, ABORTED, REFUSED})

# Order statuses and cancel reasons (docs/orders-api.md).
ORDER_CONFIRMED = "confirmed"
ORDER_CANCELLED = "cancelled"
ORDER_FULFILLED = "fulfilled"
ORDER_STATUSES = ("pending", "confirmed", "cancelled", "fulfilled")
INSUFFICIENT_STOCK = "insufficient_stock"
PAYMENT_DECLINED = "payment_declined"
PAYMENT_ERROR = "payment_error"
CANCELLED_BY_CUSTOMER = "cancelled_by_customer"
CANCELLED_BY_STAFF = "cancelled_by_staff"
#: A checkout failure that is not a cancel reason: an upstream was unavailable; no order is kept.
UNAVAILABLE = "upstream_unavailable"

# What a step left behind upstream (``Saga.reservation_outcome`` / ``payment_outcome``).
HELD = "held"
NONE = "none"
UNKNOWN = "unknown"
RELEASED = "released"
REFUNDED = "refunded"
