"""Every payment and order as a contract state (``contracts.events.PaymentState`` /
``OrderState``), read from each side with that side's own code: the monolith's keyset readers
(what the backfill pages), and the service's row-to-state functions on its database. Child rows
are sorted by key on both sides, so "equal" means the same aggregate, whatever order each side
lists its refunds or lines in."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from extracted.chassis.web.db import make_engine, make_sessions
from extracted.orders.models import Order
from extracted.orders.outbox import order_state
from extracted.payments.models import Payment
from extracted.payments.outbox import payment_state
from tests.sync.rig import SyncRig

#: Every state the monolith's keyset reader of ``KIND`` pages through, as one JSON list.
_MONOLITH_STATES = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
import django
django.setup()
from monolith.orders.selectors import order_states_after
from monolith.payments.selectors import payment_states_after
read = {"payment": payment_states_after, "order": order_states_after}[sys.argv[1]]
states, after = [], None
while page := read(after_key=after, limit=500):
    states += page
    after = str(page[-1]["id"])
print(json.dumps(states))
"""

_CHILDREN = {"payment": ("refunds", "id"), "order": ("lines", "sku")}


def _canonical(kind: str, states: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    children, key = _CHILDREN[kind]
    return {
        str(state["id"]): {**state, children: sorted(state[children], key=lambda c: c[key])}
        for state in states
    }


def monolith_states(rig: SyncRig, kind: str) -> dict[str, dict[str, Any]]:
    """The monolith's ``kind`` (``payment`` | ``order``) states by id."""
    done = rig.run("-c", _MONOLITH_STATES, kind)
    assert done.returncode == 0, done.stderr
    return _canonical(kind, json.loads(done.stdout.splitlines()[-1]))


def service_states(rig: SyncRig, kind: str) -> dict[str, dict[str, Any]]:
    """The owning service's ``kind`` states by id, read from its database."""
    capability = {"payment": "payments", "order": "orders"}[kind]
    engine = make_engine(rig.env[f"{capability.upper()}_DATABASE_URL"])
    try:
        with make_sessions(engine)() as session:
            rows: list[BaseModel]
            if kind == "payment":
                rows = [payment_state(p) for p in session.scalars(select(Payment))]
            else:
                rows = [order_state(o) for o in session.scalars(select(Order))]
            return _canonical(kind, [row.model_dump(mode="json") for row in rows])
    finally:
        engine.dispose()
