"""The card gateway: a deterministic fake we own (no network), decided by the card token alone.

=================================  ===============================================================
card token                         outcome of ``gateway_authorize``
=================================  ===============================================================
``tok_visa``, ``tok_mastercard``,  approved
``tok_ok_<anything>``
``tok_decline_<reason>``           declined with ``<reason>`` (``tok_decline_insufficient_funds``;
                                   ``declined`` when the reason is empty)
``tok_slow_<ms>``                  approved after sleeping ``min(ms, 10000)`` milliseconds
``tok_error``                      ``GatewayError`` (the gateway failed; nothing was charged)
any other ``tok_<...>``            declined with ``unknown_card``
=================================  ===============================================================

A token that does not match ``CARD_TOKEN_PATTERN`` is the caller's mistake (a 400 on
``card_token``), refused before the gateway is asked. The gateway reference of an approval is
derived from the payment id, so the same payment always gets the same reference, in the monolith
and in the extracted service alike.

The fake keeps a statement of the charges it approved in this process, as a real gateway's
dashboard would: a count (``gateway_charge_count``) and the most recent ``STATEMENT_SIZE``
approvals (``gateway_charges``; bounded, so a long-running server does not grow). Tests read it
to prove that a replayed request charged once.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

CARD_TOKEN_PATTERN = r"^tok_[a-z0-9_]+$"
CARD_TOKEN_MAX_LENGTH = 100
#: Longest sleep a ``tok_slow_<ms>`` token asks for.
MAX_SLOW_MS = 10_000
APPROVING_TOKENS = frozenset({"tok_visa", "tok_mastercard"})
UNKNOWN_CARD = "unknown_card"

_TOKEN_RE = re.compile(CARD_TOKEN_PATTERN)
_SLOW_RE = re.compile(r"^tok_slow_([0-9]+)$")


class GatewayError(Exception):
    """The gateway failed to answer; nothing was charged, so the request may be retried."""


class MalformedCardToken(ValueError):
    """A token outside ``CARD_TOKEN_PATTERN`` (callers facing input refuse it earlier)."""


@dataclass(frozen=True)
class Approved:
    reference: str


@dataclass(frozen=True)
class Declined:
    reason: str


GatewayOutcome = Approved | Declined


@dataclass(frozen=True)
class Charge:
    """One approved authorisation on the fake gateway's statement."""

    payment_id: uuid.UUID
    amount: Decimal
    reference: str


STATEMENT_SIZE = 10_000


class Statement:
    """Approvals as the gateway's dashboard lists them: a count of all, the most recent
    ``size`` kept (thread-safe; gunicorn's threads share one per process)."""

    def __init__(self, size: int = STATEMENT_SIZE) -> None:
        self._recent: deque[Charge] = deque(maxlen=size)
        self._count = 0
        self._lock = threading.Lock()

    def record(self, charge: Charge) -> None:
        with self._lock:
            self._recent.append(charge)
            self._count += 1

    def count(self) -> int:
        with self._lock:
            return self._count

    def recent(self, *, payment_id: uuid.UUID | None = None) -> list[Charge]:
        with self._lock:
            return [c for c in self._recent if payment_id is None or c.payment_id == payment_id]


_statement = Statement()


def is_card_token(card_token: str) -> bool:
    return len(card_token) <= CARD_TOKEN_MAX_LENGTH and bool(_TOKEN_RE.fullmatch(card_token))


def gateway_reference(payment_id: uuid.UUID) -> str:
    """``gw_`` + the first 24 hex digits of sha256 of the payment id (deterministic)."""
    return "gw_" + hashlib.sha256(str(payment_id).encode()).hexdigest()[:24]


def gateway_authorize(*, payment_id: uuid.UUID, amount: Decimal, card_token: str) -> GatewayOutcome:
    """Ask the gateway to hold ``amount`` on the card: ``Approved`` or ``Declined``; raises
    ``GatewayError`` when the gateway fails and ``MalformedCardToken`` for a malformed token."""
    if not is_card_token(card_token):
        raise MalformedCardToken(card_token)
    if card_token == "tok_error":
        raise GatewayError("The card gateway did not answer.")
    if card_token.startswith("tok_decline_"):
        return Declined(reason=card_token.removeprefix("tok_decline_").strip("_") or "declined")
    slow = _SLOW_RE.fullmatch(card_token)
    if slow:
        time.sleep(min(int(slow.group(1)), MAX_SLOW_MS) / 1000)
    elif card_token not in APPROVING_TOKENS and not card_token.startswith("tok_ok_"):
        return Declined(reason=UNKNOWN_CARD)
    charge = Charge(payment_id=payment_id, amount=amount, reference=gateway_reference(payment_id))
    _statement.record(charge)
    return Approved(reference=charge.reference)


def gateway_charge_count() -> int:
    """How many approvals this process has made."""
    return _statement.count()


def gateway_charges(*, payment_id: uuid.UUID | None = None) -> list[Charge]:
    """The most recent ``STATEMENT_SIZE`` approvals of this process (all, or those of one
    payment), oldest first."""
    return _statement.recent(payment_id=payment_id)
