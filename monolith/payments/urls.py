from __future__ import annotations

from django.urls import path

from monolith.payments import apis

app_name = "payments"

urlpatterns = [
    path("", apis.PaymentListCreateApi.as_view(), name="payments"),
    path("<uuid:payment_id>/", apis.PaymentDetailApi.as_view(), name="payment"),
    path("<uuid:payment_id>/capture/", apis.PaymentCaptureApi.as_view(), name="payment-capture"),
    path("<uuid:payment_id>/void/", apis.PaymentVoidApi.as_view(), name="payment-void"),
    path(
        "<uuid:payment_id>/refunds/",
        apis.PaymentRefundCreateApi.as_view(),
        name="payment-refunds",
    ),
]
