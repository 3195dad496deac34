"""Reads of the generation app, one module per area; the common ones re-exported here."""

from generation.selectors.jobs import (
    generation_get_for_user,
    generation_progress,
    image_bytes,
    image_signed_url,
    images_for_user,
    queue_estimate,
    queue_position,
)

__all__ = [
    "generation_get_for_user",
    "generation_progress",
    "image_bytes",
    "image_signed_url",
    "images_for_user",
    "queue_estimate",
    "queue_position",
]
