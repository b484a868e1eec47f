"""The ownership rules every API applies (and every extracted service repeats).

* A customer sees and acts on their own orders and payments only. Another customer's id is
  answered exactly like an id that does not exist (404), so ids cannot be probed: selectors filter
  by ``customer_scope`` and never load a row first to decide.
* Staff see and act on everything, and act for a customer by naming them.
"""

from __future__ import annotations

import uuid

from monolith.errors import ApplicationError, RuleValidationError
from monolith.identity.principal import Principal


class ActingForOthers(ApplicationError):
    code = "permission_denied"

    def __init__(self) -> None:
        super().__init__("Customers may only act for themselves.")


def customer_scope(principal: Principal) -> uuid.UUID | None:
    """The customer whose rows ``principal`` may see; ``None``: all rows (staff)."""
    return None if principal.is_staff else principal.id


def acting_customer(principal: Principal, requested: uuid.UUID | None) -> uuid.UUID:
    """The customer a write is for: a customer acts for themselves (naming another is a 403);
    staff must name the customer (a field error when they do not)."""
    if principal.is_staff:
        if requested is None:
            raise RuleValidationError({"customer_id": ["This field is required."]})
        return requested
    if requested is not None and requested != principal.id:
        raise ActingForOthers()
    return principal.id
