"""The backfill's bulk reader of products: one keyset page as COPY text (protocol.copy_text), by
sku (``monolith.copy_pages``: on PostgreSQL the server writes the page, on SQLite it is encoded in
Python)."""

from __future__ import annotations

from typing import Final

from monolith.copy_pages import KeysetPage
from monolith.inventory.models import Product
from protocol.copy_text import PRODUCT_COPY_COLUMNS

#: The sku column's collation is "C" (byte order), as the keyset needs.
PRODUCTS: Final = KeysetPage(Product, PRODUCT_COPY_COLUMNS, key="sku")


def product_page_copy_text(*, after_key: str | None, limit: int, end_key: str | None = None) -> str:
    """Products with ``sku > after_key`` (and ``<= end_key``, the end of a backfill range) in
    byte order, at most ``limit``, as COPY text."""
    return product_page_copy_bytes(after_key=after_key, limit=limit, end_key=end_key).decode()


def product_page_copy_bytes(
    *, after_key: str | None, limit: int, end_key: str | None = None
) -> bytes:
    """``product_page_copy_text`` as the UTF-8 bytes the server wrote (no string built)."""
    return PRODUCTS.copy_bytes(after_key=after_key, limit=limit, end_key=end_key)
