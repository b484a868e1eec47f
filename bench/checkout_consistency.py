"""After a checkout benchmark through the extracted services: do the three owners agree?

Every confirmed order in the orders service must have taken one unit from the inventory service
(still reserved, or committed: ``on_hand`` below what was loaded) and one captured payment in the
payments service. Each count is read through its owner's API (never its database). Requests wrk
gave up on (its 2 s timeout) may still be finishing when the run ends, so the counts are polled
until they agree, up to a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Counts:
    confirmed_orders: int
    units_taken: int
    captured_payments: int

    @property
    def agree(self) -> bool:
        return self.confirmed_orders == self.units_taken == self.captured_payments


def _count(url: str, token: str, status: str) -> int:
    answer = httpx.get(
        url,
        params={"status": status, "page_size": 1},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    answer.raise_for_status()
    return int(answer.json()["count"])


def read_counts(
    *,
    orders_url: str,
    inventory_url: str,
    payments_url: str,
    sku: str,
    loaded_on_hand: int,
    shopper_token: str,
    service_token: str,
) -> Counts:
    """The three owners' counts now (orders as the shopper, payments as the service account)."""
    product = httpx.get(f"{inventory_url}/api/inventory/products/{sku}/", timeout=10)
    product.raise_for_status()
    stock = product.json()
    return Counts(
        confirmed_orders=_count(f"{orders_url}/api/orders/", shopper_token, "confirmed"),
        units_taken=int(stock["reserved"]) + loaded_on_hand - int(stock["on_hand"]),
        captured_payments=_count(f"{payments_url}/api/payments/", service_token, "captured"),
    )


def settled_counts(read: Callable[[], Counts], timeout_s: float = 30.0) -> Counts:
    """Poll ``read`` until the three counts agree (or ``timeout_s`` passes); the last read."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = read()
        if counts.agree or time.monotonic() >= deadline:
            return counts
        time.sleep(0.2)  # the poll interval of a condition awaited with a deadline
