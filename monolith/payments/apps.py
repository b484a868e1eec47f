from __future__ import annotations

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "monolith.payments"
    label = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register what reverse sync applies and what reconciliation reads of this app."""
        from contracts.events import PaymentState
        from monolith.payments.reconcile import PAYMENT_SOURCE
        from monolith.payments.sync_apply import payment_state_apply
        from monolith.reconcile.sources import register_source
        from monolith.reverse_sync.appliers import register_state_applier

        register_state_applier("payment", PaymentState, payment_state_apply)
        register_source(PAYMENT_SOURCE)
