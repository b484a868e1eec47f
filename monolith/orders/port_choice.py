"""Which adapter a port call uses: the one that reaches whoever takes the capability's writes
now, read from the monolith's direction row at each call (no restart; a switch is followed by
the next call).

``forward``: the monolith takes the writes, so in process. ``reverse`` or ``retired``: the
service does, so remote, through the façade. ``frozen``: a switch is under way and nobody takes
them for a moment: 503 + ``Retry-After``, as every monolith write of a frozen capability answers.
"""

from __future__ import annotations

from monolith.orders.facade_client import facade_client
from monolith.orders.in_process import InProcessPayments, InProcessStock
from monolith.orders.ports import PaymentPort, StockPort, Where
from monolith.orders.remote import RemotePayments, RemoteStock
from monolith.reverse_sync.errors import CapabilityFrozen
from monolith.reverse_sync.models import CapabilityDirection


def adapter_for(capability: str, direction: str) -> Where:
    """The adapter for a capability in ``direction`` (``CapabilityFrozen`` while frozen)."""
    if direction == "forward":
        return "in_process"
    if direction in ("reverse", "retired"):
        return "remote"
    raise CapabilityFrozen(capability, direction)


def current_direction(capability: str) -> str:
    """The monolith's direction of ``capability`` (a plain read: the in-process services take
    the row ``FOR SHARE`` themselves when they write)."""
    found = (
        CapabilityDirection.objects.filter(capability=capability)
        .values_list("direction", flat=True)
        .first()
    )
    return "forward" if found is None else str(found)


def where(capability: str) -> Where:
    return adapter_for(capability, current_direction(capability))


def stock_port() -> StockPort:
    if where("inventory") == "in_process":
        return InProcessStock()
    return RemoteStock(facade_client())


def payment_port() -> PaymentPort:
    if where("payments") == "in_process":
        return InProcessPayments()
    return RemotePayments(facade_client())
