"""The monolith's URLs. Paths are exact (``APPEND_SLASH = False``); anything else is the
contract's JSON 404."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from monolith.health import HealthLiveApi, HealthReadyApi
from monolith.outbox.metrics import metrics_view

# Every app's admin.py registers its models here, where the admin is served, not at
# django.setup() (settings: SimpleAdminConfig).
admin.autodiscover()

urlpatterns = [
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The same contract in Swagger UI, its files served by this process (no CDN).
    path(
        "api/schema/swagger-ui/",
        SpectacularSwaggerView.as_view(url_name="schema"),
        name="swagger-ui",
    ),
    path("api/auth/", include("monolith.identity.urls")),
    path("api/inventory/", include("monolith.inventory.urls")),
    path("api/payments/", include("monolith.payments.urls")),
    path("api/orders/", include("monolith.orders.urls")),
    path("internal/outbox/", include("monolith.outbox.urls")),
    path("internal/sync/", include("monolith.reverse_sync.urls")),
    path("internal/reconcile/", include("monolith.reconcile.urls")),
    path("internal/identity/", include("monolith.identity.internal_urls")),
    path("metrics", metrics_view, name="metrics"),
    path("health/live", HealthLiveApi.as_view(), name="health-live"),
    path("health/ready", HealthReadyApi.as_view(), name="health-ready"),
    path("admin/", admin.site.urls),
]

handler400 = "monolith.api.error_views.bad_request"
handler403 = "monolith.api.error_views.permission_denied"
handler404 = "monolith.api.error_views.not_found"
handler500 = "monolith.api.error_views.server_error"
