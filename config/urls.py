"""Root URLs. Each app owns its own URL modules; this file only mounts them."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from frontend.views.public import api_docs

urlpatterns = [
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
    path("api/docs/", api_docs, name="api-docs"),
    path("", include("billing.urls")),  # the Stripe webhook endpoint
    path("", include("frontend.urls")),
]
