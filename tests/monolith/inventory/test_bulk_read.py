"""The backfill's bulk reader: a products page as COPY text is the same page, row for row, as
the JSON reader's contract states (so the two wires carry the same data)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from contracts.events import ProductState
from monolith.inventory.bulk_read import product_page_copy_text
from monolith.inventory.selectors import product_states_after
from protocol.copy_text import PRODUCT_COPY_COLUMNS, decode_rows, first_field_of_last_line
from tests.monolith.factories import make_product
from tests.support.random_refs import random_suffix

pytestmark = pytest.mark.django_db


def _states(text: str) -> list[ProductState]:
    rows = decode_rows(text, PRODUCT_COPY_COLUMNS)
    return [
        ProductState(
            sku=str(row["sku"]),
            name=str(row["name"]),
            price=f"{Decimal(str(row['price'])):.2f}",
            on_hand=int(str(row["on_hand"])),
            reserved=int(str(row["reserved"])),
            version=int(str(row["version"])),
            created_at=datetime.fromisoformat(str(row["created_at"])),
            updated_at=datetime.fromisoformat(str(row["updated_at"])),
        )
        for row in rows
    ]


def test_copy_pages_carry_the_json_pages_rows() -> None:
    suffix = random_suffix()
    for prefix in ("b", "B", "_x", "a.", "Z"):
        make_product(sku=f"{prefix}{suffix}", name="Tab\there\nand back\\slash", price="3.10")
    after: str | None = None
    pages = 0
    while True:
        text = product_page_copy_text(after_key=after, limit=2)
        expected = [ProductState(**s) for s in product_states_after(after_key=after, limit=2)]
        assert _states(text) == expected
        if not expected:
            assert text == ""
            break
        assert first_field_of_last_line(text) == expected[-1].sku
        after = expected[-1].sku
        pages += 1
    assert pages >= 3


def test_a_bad_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        product_page_copy_text(after_key=None, limit=0)
