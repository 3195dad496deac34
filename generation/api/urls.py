"""Native API routes of generation, mounted under /api/v1/."""

from django.urls import include, path

from accounts.api.routing import method_routes
from generation.api import webhooks

urlpatterns = [
    path(
        "webhooks",
        method_routes(get=webhooks.WebhookEndpointListApi, post=webhooks.WebhookEndpointCreateApi),
        name="api-webhooks",
    ),
    path(
        "webhooks/<uuid:endpoint_id>",
        method_routes(
            get=webhooks.WebhookEndpointDetailApi,
            patch=webhooks.WebhookEndpointUpdateApi,
            delete=webhooks.WebhookEndpointDeleteApi,
        ),
        name="api-webhook",
    ),
    path(
        "webhooks/<uuid:endpoint_id>/deliveries",
        webhooks.WebhookDeliveryListApi.as_view(),
        name="api-webhook-deliveries",
    ),
    path(
        "webhooks/deliveries/<uuid:delivery_id>/replay",
        webhooks.WebhookDeliveryReplayApi.as_view(),
        name="api-webhook-delivery-replay",
    ),
]

# Signed image links for the local-folder storage (generation core owns generation/urls_media.py;
# S3 deployments use presigned URLs instead). Keep this line when editing the routes above.
urlpatterns += [path("", include("generation.urls_media"))]
