"""The backfill's bulk reader of payments: one keyset page by id as COPY text, the payments' rows
then their refunds' (protocol.copy_text; ``monolith.copy_pages``)."""

from __future__ import annotations

from typing import Final

from monolith.copy_pages import Children, KeysetPage
from monolith.payments.models import Payment, Refund
from protocol.copy_text import PAYMENT_COPY_COLUMNS, REFUND_COPY_COLUMNS

PAYMENTS: Final = KeysetPage(
    Payment,
    PAYMENT_COPY_COLUMNS,
    key="id",
    children=Children(Refund, REFUND_COPY_COLUMNS, "payment_id"),
)


def payment_page_copy_bytes(
    *, after_key: str | None, limit: int, end_key: str | None = None
) -> bytes:
    """Payments with ``id > after_key`` (and ``<= end_key``) by id, at most ``limit``, with
    their refunds, as COPY text."""
    return PAYMENTS.copy_bytes(after_key=after_key, limit=limit, end_key=end_key)
