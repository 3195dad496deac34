"""Webhooks for API customers: where to send job events, and every delivery attempt."""

from django.conf import settings
from django.db import models

from common.models import TimeStampedModel, UUIDModel


class WebhookEndpoint(UUIDModel):
    """An https URL that receives signed events, for the whole account or for one API key."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
    )
    url = models.URLField(max_length=2000)
    # The signing secret is shown to the customer (they need it to verify), so it is stored.
    secret = models.CharField(max_length=64)
    is_active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(UUIDModel):
    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # gave up after the retry window
        REFUSED = "refused"  # the URL resolved to an address Easel never calls

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(max_length=64)
    # One event per endpoint: a retried task re-sends the same delivery rather than a new one.
    event_id = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhook_delivery_unique_event"
            )
        ]


class WebhookAttempt(TimeStampedModel):
    """One HTTP try of a delivery, for the customer's delivery log."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
