"""Native API routes of generation, mounted under /api/v1/."""

from django.urls import include, path

from common.routing import method_routes
from generation.api import native, sharing, webhooks

urlpatterns = [
    path("generations", native.GenerationCreateApi.as_view(), name="api-generations"),
    path(
        "generations/preflight",
        native.GenerationPreflightApi.as_view(),
        name="api-generations-preflight",
    ),
    path(
        "generations/<uuid:generation_id>",
        native.GenerationDetailApi.as_view(),
        name="api-generation",
    ),
    path(
        "generations/<uuid:generation_id>/events",
        native.GenerationEventsApi.as_view(),
        name="api-generation-events",
    ),
    path(
        "generations/<uuid:generation_id>/cancel",
        native.GenerationCancelApi.as_view(),
        name="api-generation-cancel",
    ),
    path("images", native.ImageListApi.as_view(), name="api-images"),
    path(
        "images/<uuid:image_id>",
        method_routes(get=native.ImageDetailApi, delete=native.ImageDeleteApi),
        name="api-image",
    ),
    path(
        "images/<uuid:image_id>/share",
        method_routes(post=sharing.ImageShareCreateApi, delete=sharing.ImageShareDeleteApi),
        name="api-image-share",
    ),
    path(
        "collections",
        method_routes(get=sharing.CollectionListApi, post=sharing.CollectionCreateApi),
        name="api-collections",
    ),
    path(
        "collections/<int:collection_id>",
        method_routes(
            get=sharing.CollectionDetailApi,
            patch=sharing.CollectionUpdateApi,
            delete=sharing.CollectionDeleteApi,
        ),
        name="api-collection",
    ),
    path(
        "collections/<int:collection_id>/images/<uuid:image_id>",
        method_routes(post=sharing.CollectionImageAddApi, delete=sharing.CollectionImageRemoveApi),
        name="api-collection-image",
    ),
    path("provenance/check", native.ProvenanceCheckApi.as_view(), name="api-provenance-check"),
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
    # The signed local image route (generation/urls_media.py): /api/v1/media/<token>.
    path("", include("generation.urls_media")),
]
