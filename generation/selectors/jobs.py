"""Reads of generations and images: a user's own, their signed URLs, progress, queue position."""

import datetime as dt
import math
import uuid
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet

from common.errors import NotFound
from generation.models import Generation, Image


def generation_get_for_user(*, user: Any, generation_id: uuid.UUID | str) -> Generation:
    """The user's generation; another user's looks exactly like a missing one (404)."""
    try:
        generation_id = uuid.UUID(str(generation_id))
    except ValueError:
        raise NotFound(f"No generation with id '{generation_id}'.", param="id") from None
    generation = Generation.objects.filter(pk=generation_id, user=user).first()
    if generation is None:
        raise NotFound(f"No generation with id '{generation_id}'.", param="id")
    return generation


def images_for_user(
    *,
    user: Any,
    created_after: dt.datetime | None = None,
    created_before: dt.datetime | None = None,
    prompt_contains: str = "",
) -> QuerySet[Image]:
    """Delivered, not deleted, not taken down; newest first."""
    images = Image.objects.filter(
        generation__user=user, status=Image.Status.DELIVERED, deleted_at__isnull=True
    ).select_related("generation")
    if created_after is not None:
        images = images.filter(created_at__gte=created_after)
    if created_before is not None:
        images = images.filter(created_at__lt=created_before)
    if prompt_contains:
        images = images.filter(generation__prompt__icontains=prompt_contains)
    return images.order_by("-created_at", "-id")


def image_signed_url(*, image: Image, expires_in: int | None = None) -> str | None:
    """An expiring URL for a delivered image; None for withheld, removed or deleted ones."""
    from generation.services.storage import signed_url

    if image.status != Image.Status.DELIVERED or image.deleted_at or not image.storage_key:
        return None
    return signed_url(key=image.storage_key, expires_in=expires_in)


def image_bytes(*, image: Image) -> bytes | None:
    """The delivered PNG itself (for `response_format=b64_json`)."""
    from generation.services.storage import storage_read

    if image.status != Image.Status.DELIVERED or image.deleted_at or not image.storage_key:
        return None
    return storage_read(key=image.storage_key)


def generation_progress(*, generation_id: uuid.UUID | str) -> dict[str, Any] | None:
    """The latest published state (services/progress.py), or None before any."""
    from generation.services.progress import cache_key

    return cache.get(cache_key(generation_id=generation_id))


def queue_position(*, generation: Generation) -> int:
    """Queued jobs that run before this one: higher lanes, then older jobs of its own lane."""
    if generation.status != Generation.Status.QUEUED:
        return 0
    return (
        Generation.objects.filter(status=Generation.Status.QUEUED)
        .filter(
            Q(queue_lane__gt=generation.queue_lane)
            | Q(queue_lane=generation.queue_lane, created_at__lt=generation.created_at)
        )
        .count()
    )


def queue_estimate(*, generation: Generation) -> dict[str, Any]:
    """Position and seconds until it starts, from the workers' measured images per second."""
    from generation.services.throughput import throughput_fleet

    position = queue_position(generation=generation)
    rate = throughput_fleet()
    if generation.status != Generation.Status.QUEUED:
        return {"position": 0, "estimated_start_seconds": 0}
    ahead = (
        Generation.objects.filter(status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING])
        .filter(
            Q(status=Generation.Status.RUNNING)
            | Q(queue_lane__gt=generation.queue_lane)
            | Q(queue_lane=generation.queue_lane, created_at__lt=generation.created_at)
        )
        .values_list("n", flat=True)
    )
    images_ahead = sum(ahead)
    seconds = math.ceil(images_ahead / rate) if rate else None
    return {"position": position, "estimated_start_seconds": seconds}
