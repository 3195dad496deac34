"""Root URLs. Each app owns its own URL modules; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.views import recovery_codes, two_factor_activate
from common.views import healthz, metrics_view, readyz
from frontend.views.public import api_docs

urlpatterns = [
    # Operating endpoints (docs/deploy.md): probes for Kubernetes, metrics for Prometheus.
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    # allauth's two-factor set-up, ending on the page that asked for it (accounts/views.py);
    # the same paths and names as allauth's, matched first.
    path("accounts/2fa/totp/activate/", two_factor_activate, name="mfa_activate_totp"),
    path("accounts/2fa/recovery-codes/", recovery_codes, name="mfa_view_recovery_codes"),
    path("accounts/", include("allauth.urls")),
    # The OpenAI-compatible API.
    path("v1/", include("generation.api.openai_urls")),
    # The native API, one module per app.
    path("api/v1/", include("accounts.api.urls")),
    path("api/v1/", include("billing.api.urls")),
    path("api/v1/", include("generation.api.urls")),
    path("api/v1/", include("moderation.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("", include("billing.urls")),  # the Stripe webhook endpoint
    path("", include("frontend.urls")),
]
