"""Reads of customer webhooks: endpoints and their delivery log, always scoped to their owner."""

from uuid import UUID

from django.db.models import QuerySet

from accounts.models import User
from common.errors import NotFound
from generation.models import WebhookDelivery, WebhookEndpoint


def webhook_endpoints_for_user(*, user: User) -> QuerySet[WebhookEndpoint]:
    return (
        WebhookEndpoint.objects.filter(user=user).select_related("api_key").order_by("-created_at")
    )


def webhook_endpoint_get_for_user(*, user: User, endpoint_id: UUID | str) -> WebhookEndpoint:
    endpoint = webhook_endpoints_for_user(user=user).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def webhook_deliveries_for_endpoint(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return endpoint.deliveries.prefetch_related("attempt_log").order_by("-created_at")


def webhook_delivery_get_for_user(*, user: User, delivery_id: UUID | str) -> WebhookDelivery:
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(pk=delivery_id, endpoint__user=user)
        .first()
    )
    if delivery is None:
        raise NotFound("No such webhook delivery.")
    return delivery
