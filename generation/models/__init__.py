"""Generation's tables, one module per area; import them from here."""

from generation.models.jobs import Generation, IdempotencyRecord, Image
from generation.models.outpainting import Extension, ExtensionFrame
from generation.models.quarantine import QuarantinedImage
from generation.models.sharing import Collection, CollectionItem, Share
from generation.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Collection",
    "CollectionItem",
    "Extension",
    "ExtensionFrame",
    "Generation",
    "IdempotencyRecord",
    "Image",
    "QuarantinedImage",
    "Share",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
