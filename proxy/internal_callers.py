"""Internal callers at the façade: a service calling another capability through the proxy
(the orders saga reserving and paying) may ask for a dry run.

A client's ``X-Strangler-*`` headers never cross the proxy (``proxy.wire.upstream_head``): a
dry run asked by anyone would be a free what-if of every write (a card tried at the gateway
without a payment kept). But when the orders service runs a shadowed checkout as a dry run, its
calls to inventory and payments must be dry runs too, or the shadow copy would reserve and charge
for real. So the proxy keeps ``X-Strangler-Dry-Run: 1`` on a write whose
``X-Strangler-Caller`` carries the stack's sync token (``contracts.sync_token``, which every
owner already holds); that header itself is dropped like every ``X-Strangler-*`` header.
"""

from __future__ import annotations

import hmac
from typing import Final

from proxy.headers import DRY_RUN, RawHeaders

#: The header an internal caller proves itself with (its value: the sync token).
CALLER: Final = "X-Strangler-Caller"


def internal_dry_run(headers: RawHeaders, token: str | None) -> bool:
    """Does this request ask for a dry run, from a caller holding ``token``?"""
    if token is None or headers.get(DRY_RUN, "").strip() != "1":
        return False
    given = headers.get(CALLER)
    return given is not None and hmac.compare_digest(given.encode(), token.encode())
