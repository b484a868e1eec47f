"""Make payments on the monolith with its own code, then copy them into the payments service's
database, as a backfill would.

``python -m tests.parity.copy_payments`` with ``DATABASE_URL`` (the monolith's database),
``PAYMENTS_DATABASE_URL`` (the service's, migrated) and ``STRANGLER_VAR_DIR`` (where the
monolith keeps its signing keys, which the service's public key file is). It runs as its own
process for the reason ``copy_rows`` does: Django must be configured for *that* monolith.

Accounts ``parity-customer``, ``parity-other`` and ``parity-staff`` get one payment in each
state (through ``monolith.payments.services``); every payment is then read with
``payment_states_after`` and applied with ``extracted.payments.backfill.apply_payment_states``.

Prints one JSON object: the environment the payments scenario reads (``proxy/scenarios/
payments.yaml``): tokens, the customer's id and a payment id per state.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal

PAGE_SIZE = 200
TOKEN_TTL_S = 3600


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
    import django

    django.setup()
    from extracted.chassis.web.db import make_engine, make_sessions
    from extracted.chassis.web.unit_of_work import unit_of_work
    from extracted.payments.backfill import apply_payment_states
    from monolith.identity.models import User
    from monolith.identity.tokens import token_issue
    from monolith.payments.selectors import payment_states_after
    from monolith.payments.services import (
        payment_authorize,
        payment_capture,
        payment_refund,
        payment_void,
    )

    def account(username: str, *, staff: bool = False) -> User:
        user, _ = User.objects.get_or_create(username=username, defaults={"is_staff": staff})
        return user

    customer, other, staff = (
        account("parity-customer"),
        account("parity-other"),
        account("parity-staff", staff=True),
    )

    def pay(amount: str, *, capture: bool = False, card: str = "tok_visa", who: User = customer):
        return payment_authorize(
            customer_id=who.id, amount=Decimal(amount), card_token=card, capture=capture
        )

    authorized = pay("10.00")
    captured = pay("30.00", capture=True)
    partly = pay("50.00", capture=True)
    payment_refund(payment_id=partly.id, amount=Decimal("20.00"))
    refunded = pay("15.00", capture=True)
    payment_refund(payment_id=refunded.id)
    voided = pay("12.00")
    payment_void(payment_id=voided.id)
    declined = pay("99.00", card="tok_decline_do_not_honor")
    also_captured = pay("7.00")
    payment_capture(payment_id=also_captured.id)
    theirs = pay("8.00", capture=True, who=other)

    engine = make_engine(os.environ["PAYMENTS_DATABASE_URL"])
    copied = 0
    try:
        sessions = make_sessions(engine)
        after: str | None = None
        while rows := payment_states_after(after_key=after, limit=PAGE_SIZE):
            with unit_of_work(sessions) as session:
                copied += apply_payment_states(session, rows)
            after = str(rows[-1]["id"])
    finally:
        engine.dispose()

    def token(user: User) -> str:
        return token_issue(user=user, ttl_s=TOKEN_TTL_S).access_token

    print(
        json.dumps(
            {
                "copied": copied,
                "env": {
                    "COMPARE_TOKEN": token(customer),
                    "COMPARE_OTHER_TOKEN": token(other),
                    "COMPARE_STAFF_TOKEN": token(staff),
                    "COMPARE_CUSTOMER_ID": str(customer.id),
                    "COMPARE_AUTHORIZED": str(authorized.id),
                    "COMPARE_CAPTURED": str(captured.id),
                    "COMPARE_PARTLY_REFUNDED": str(partly.id),
                    "COMPARE_REFUNDED": str(refunded.id),
                    "COMPARE_VOIDED": str(voided.id),
                    "COMPARE_DECLINED": str(declined.id),
                    "COMPARE_OTHERS_PAYMENT": str(theirs.id),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
