from __future__ import annotations

from django.urls import path

from monolith.inventory import apis

app_name = "inventory"

urlpatterns = [
    path("products/", apis.ProductListCreateApi.as_view(), name="products"),
    path("products/<str:sku>/", apis.ProductDetailApi.as_view(), name="product"),
    path(
        "products/<str:sku>/adjustments/",
        apis.ProductAdjustStockApi.as_view(),
        name="product-adjustments",
    ),
    path("reservations/", apis.ReservationCreateApi.as_view(), name="reservations"),
    path(
        "reservations/<uuid:reservation_id>/",
        apis.ReservationDetailApi.as_view(),
        name="reservation",
    ),
    path(
        "reservations/<uuid:reservation_id>/commit/",
        apis.ReservationCommitApi.as_view(),
        name="reservation-commit",
    ),
    path(
        "reservations/<uuid:reservation_id>/release/",
        apis.ReservationReleaseApi.as_view(),
        name="reservation-release",
    ),
]
