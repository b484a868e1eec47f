"""The in-process adapters of the orders' ports (``ports.py``): the monolith's own inventory and
payments services, called in the caller's transaction. Used while the capability is ``forward``
(the monolith takes its writes); each service still checks the direction itself, so a freeze
that starts mid-call answers 503 as before."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from monolith.inventory.errors import (
    InsufficientStock,
    OrderAlreadyReserved,
    ReservationAlreadyExists,
    ReservationNotFound,
    ReservationNotPending,
)
from monolith.inventory.models import ReservationStatus
from monolith.inventory.services import (
    reservation_commit,
    reservation_create,
    reservation_release,
)
from monolith.orders.ports import Charged, Declined, GatewayFailed, Reserved, ShortOfStock, Where
from monolith.payments.errors import PaymentAlreadyExists, PaymentNotInState
from monolith.payments.gateway import GatewayError
from monolith.payments.models import Payment, PaymentStatus
from monolith.payments.services import payment_authorize, payment_refund, payment_void


class InProcessStock:
    where: Where = "in_process"

    def reserve(
        self, *, reservation_id: uuid.UUID, order_id: uuid.UUID, lines: Sequence[tuple[str, int]]
    ) -> Reserved | ShortOfStock:
        try:
            reservation = reservation_create(
                order_id=order_id, lines=lines, reservation_id=reservation_id
            )
        except InsufficientStock as err:
            return ShortOfStock(err.shortages)
        except (OrderAlreadyReserved, ReservationAlreadyExists):
            # An earlier try of this step (here, or at the service before a switch back): the
            # order's id is new to this checkout, so the reservation is its own.
            return Reserved(reservation_id)
        return Reserved(reservation.id)

    def commit(self, reservation_id: uuid.UUID) -> None:
        try:
            reservation_commit(reservation_id=reservation_id)
        except ReservationNotPending as err:
            if err.status != ReservationStatus.COMMITTED:
                raise

    def release(self, reservation_id: uuid.UUID) -> None:
        try:
            reservation_release(reservation_id=reservation_id)
        except ReservationNotFound:
            return  # never held: nothing to free
        except ReservationNotPending as err:
            # Released already (through the inventory API, or an earlier try): the stock is back.
            if err.status != ReservationStatus.RELEASED:
                raise


class InProcessPayments:
    where: Where = "in_process"

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
        # A repeat finds the order's payment (made here, or at the service before a switch back
        # and synced since): the order id is new to this checkout, so the payment is its own.
        earlier = Payment.objects.filter(order_id=order_id).order_by("created_at").first()
        if earlier is not None:
            return _outcome(earlier)
        try:
            payment = payment_authorize(
                customer_id=customer_id,
                amount=amount,
                card_token=card_token,
                order_id=order_id,
                payment_id=payment_id,
                capture=True,
            )
        except PaymentAlreadyExists:
            payment = Payment.objects.get(id=payment_id)
        except GatewayError:
            return GatewayFailed()
        return _outcome(payment)

    def give_back(self, payment_id: uuid.UUID, *, key: str) -> None:
        try:
            payment_refund(payment_id=payment_id)
        except PaymentNotInState as err:
            if err.status == PaymentStatus.AUTHORIZED:
                payment_void(payment_id=payment_id)
            elif err.status not in (PaymentStatus.REFUNDED, PaymentStatus.VOIDED):
                raise


def _outcome(payment: Payment) -> Charged | Declined:
    if payment.status == PaymentStatus.DECLINED:
        return Declined(payment.decline_reason or "declined")
    return Charged(payment.id)
