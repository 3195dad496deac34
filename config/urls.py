"""Root URLs. Each app owns its own URL modules; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from common.views import healthz, metrics_view, readyz

urlpatterns = [
    # Operating endpoints (docs/deploy.md): probes for Kubernetes, metrics for Prometheus.
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    # The OpenAI-compatible API.
    path("v1/", include("generation.api.openai_urls")),
    # The native API, one module per app.
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("billing.api.urls")),
    path("api/v1/", include("generation.api.urls")),
    path("api/v1/", include("moderation.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("billing.urls")),  # the Stripe webhook endpoint
    path("", include("frontend.urls")),
]
