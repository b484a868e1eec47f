"""The backfill's bulk reader of orders: one keyset page by id as COPY text, the orders' rows
then their lines' (protocol.copy_text; ``monolith.copy_pages``)."""

from __future__ import annotations

from typing import Final

from monolith.copy_pages import Children, KeysetPage
from monolith.orders.models import Order, OrderLine
from protocol.copy_text import ORDER_COPY_COLUMNS, ORDER_LINE_COPY_COLUMNS

ORDERS: Final = KeysetPage(
    Order,
    ORDER_COPY_COLUMNS,
    key="id",
    children=Children(OrderLine, ORDER_LINE_COPY_COLUMNS, "order_id"),
)


def order_page_copy_bytes(
    *, after_key: str | None, limit: int, end_key: str | None = None
) -> bytes:
    """Orders with ``id > after_key`` (and ``<= end_key``) by id, at most ``limit``, with their
    lines, as COPY text."""
    return ORDERS.copy_bytes(after_key=after_key, limit=limit, end_key=end_key)
