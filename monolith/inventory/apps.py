from __future__ import annotations

from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "monolith.inventory"
    label = "inventory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register what reverse sync applies and what reconciliation reads of this app."""
        from contracts.events import ProductState, ReservationState
        from monolith.inventory.reconcile import PRODUCT_SOURCE, RESERVATION_SOURCE
        from monolith.inventory.sync_apply import product_state_apply, reservation_state_apply
        from monolith.reconcile.sources import register_source
        from monolith.reverse_sync.appliers import register_state_applier

        register_state_applier("product", ProductState, product_state_apply)
        register_state_applier("reservation", ReservationState, reservation_state_apply)
        register_source(PRODUCT_SOURCE)
        register_source(RESERVATION_SOURCE)
