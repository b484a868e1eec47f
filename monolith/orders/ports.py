"""The ports through which the orders reach the stock and the money (branch by abstraction,
docs/branch-by-abstraction.md).

Each port is named for what the orders need, not for how the owner is reached: reserve, commit
and release stock; charge (authorise and capture at once) and give back (refund, or void a hold)
a payment. Two adapters implement each: ``in_process.py`` (the monolith's own services, today's
code) and ``remote.py`` (HTTP to the capability's owner through the façade). ``port_choice.py``
picks one per call from the capability's direction.

Every call is idempotent, so a step whose outcome was lost (a crash, a timeout) is taken again:
the reservation's id is chosen by the caller; a charge is found again by its ``Idempotency-Key``
(remote) or its order (in process); commit, release and give-back report "done" when the state
they want is there already.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

from contracts.direction import RETRY_AFTER_S
from monolith.errors import ApplicationError, InvalidStateError
from monolith.inventory.errors import Shortage

Where = Literal["in_process", "remote"]


@dataclass(frozen=True)
class Reserved:
    reservation_id: uuid.UUID


@dataclass(frozen=True)
class ShortOfStock:
    shortages: list[Shortage]


@dataclass(frozen=True)
class Charged:
    payment_id: uuid.UUID


@dataclass(frozen=True)
class Declined:
    reason: str


@dataclass(frozen=True)
class GatewayFailed:
    """The card gateway failed: nothing was charged."""


class OwnerUnavailable(ApplicationError):
    """503 + ``Retry-After``: the capability's owner could not be asked, or gave no usable
    answer. ``sent``: the request may have reached it (a timeout, a 5xx), so its outcome is
    unknown; ``False`` only when it surely did not (connection refused)."""

    code = "unavailable"
    retry_after_s = RETRY_AFTER_S

    def __init__(self, capability: str, reason: str, *, sent: bool) -> None:
        super().__init__(f"The {capability} owner is unavailable; retry shortly.")
        self.capability = capability
        self.reason = reason
        self.sent = sent

    def __str__(self) -> str:
        return f"{self.capability}: {self.reason}"


class OwnerRefused(InvalidStateError):
    """409 ``invalid_state``: the owner refuses the step in the state its row is in (e.g. a
    release of a committed reservation); the owner's body is relayed."""

    def __init__(self, capability: str, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("detail") or f"{capability} refused the step."))
        self.capability = capability
        self.body = body

    def extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.body.items() if k not in ("error", "detail")}


class StockPort(Protocol):
    where: Where

    def reserve(
        self, *, reservation_id: uuid.UUID, order_id: uuid.UUID, lines: Sequence[tuple[str, int]]
    ) -> Reserved | ShortOfStock:
        """Hold every line for the order, or nothing (``ShortOfStock``). A repeat of the same
        reservation answers ``Reserved``."""
        ...

    def commit(self, reservation_id: uuid.UUID) -> None:
        """The held stock leaves ``on_hand``; done also when committed before."""
        ...

    def release(self, reservation_id: uuid.UUID) -> None:
        """The held stock is free again; done also when released before or never held."""
        ...


class PaymentPort(Protocol):
    where: Where

    def charge(
        self,
        *,
        key: str,
        payment_id: uuid.UUID,
        customer_id: uuid.UUID,
        order_id: uuid.UUID,
        amount: Decimal,
        card_token: str,
    ) -> Charged | Declined | GatewayFailed:
        """Authorise and capture ``amount`` for the order; a repeat (same ``key``, same order)
        answers the first outcome and charges nothing more. ``payment_id`` is the id to give a
        new payment where the owner lets the caller choose it."""
        ...

    def give_back(self, payment_id: uuid.UUID, *, key: str) -> None:
        """Refund what is captured (void an authorised hold); done also when given back before."""
        ...
