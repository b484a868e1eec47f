from __future__ import annotations

from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "monolith.orders"
    label = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register what reverse sync applies and what reconciliation reads of this app, and
        the orders' remote writes still in flight (the forward drain of a switch waits for them)."""
        from contracts.events import OrderState
        from monolith.orders.models import OrderProgress
        from monolith.orders.reconcile import ORDER_SOURCE
        from monolith.orders.sync_apply import order_state_apply
        from monolith.outbox.selectors import register_in_flight
        from monolith.reconcile.sources import register_source
        from monolith.reverse_sync.appliers import register_state_applier

        register_state_applier("order", OrderState, order_state_apply)
        register_source(ORDER_SOURCE)
        register_in_flight("orders", lambda: OrderProgress.objects.filter(finished=False).count())
