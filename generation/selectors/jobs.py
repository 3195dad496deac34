"""Reads of generations and images: a user's own, their signed URLs, progress, queue position."""

import datetime as dt
import math
import uuid
from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch, Q, QuerySet, Sum

from common.errors import NotFound
from generation.models import Generation, Image
from generation.services.progress import cache_key
from generation.services.storage import signed_url, storage_read
from generation.services.throughput import throughput_fleet


def generation_get_for_user(*, user: Any, generation_id: uuid.UUID | str) -> Generation:
    """This user's generation, in any status; another user's looks exactly like a missing one
    (404). The one owner selector for generations: the API and the studio both use it."""
    try:
        generation_id = uuid.UUID(str(generation_id))
    except ValueError:
        raise NotFound(f"No generation with id '{generation_id}'.", param="id") from None
    generation = (
        Generation.objects.filter(pk=generation_id, user=user)
        .prefetch_related(Prefetch("images", queryset=live_images(), to_attr="live_images"))
        .first()
    )
    if generation is None:
        raise NotFound(f"No generation with id '{generation_id}'.", param="id")
    return generation


def live_images() -> QuerySet[Image]:
    """A generation's images its owner still has (not deleted), in order."""
    return Image.objects.filter(deleted_at__isnull=True).order_by("index")


def image_get_for_owner(
    *, user: Any, image_id: uuid.UUID | str, delivered: bool = False, for_update: bool = False
) -> Image:
    """This user's image: theirs and not deleted. The status rule is the caller's choice,
    said here: `delivered=True` also requires a delivered image (not withheld, removed or
    under review's withholding); otherwise any status (the owner's page shows a withheld
    image's state). `for_update` locks the row (call inside a transaction). Anyone else's
    image, or none, is NotFound (never 403, which would confirm that it exists)."""
    images = Image.objects.select_related("generation").filter(
        pk=image_id, generation__user=user, deleted_at__isnull=True
    )
    if delivered:
        images = images.filter(status=Image.Status.DELIVERED)
    if for_update:
        images = images.select_for_update()
    image = images.first()
    if image is None:
        raise NotFound("No such image.", param="image")
    return image


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
    if image.status != Image.Status.DELIVERED or image.deleted_at or not image.storage_key:
        return None
    return signed_url(key=image.storage_key, expires_in=expires_in)


def image_bytes(*, image: Image) -> bytes | None:
    """The delivered PNG itself (for `response_format=b64_json`)."""
    if image.status != Image.Status.DELIVERED or image.deleted_at or not image.storage_key:
        return None
    return storage_read(key=image.storage_key)


def generation_progress(*, generation_id: uuid.UUID | str) -> dict[str, Any] | None:
    """The latest published state (services/progress.py), or None before any."""
    return cache.get(cache_key(generation_id=generation_id))


def progress_of(*, generation: Generation) -> dict[str, int]:
    """How far a job has got, as `{"step", "total"}`: while it runs, the step its worker last
    published when that is further than the row's (the row's is written with the heartbeat,
    once a second: a short job's row says step 0 until it settles), else the row's."""
    step, total = generation.progress_step, generation.progress_total
    if generation.status == Generation.Status.RUNNING:
        published = generation_progress(generation_id=generation.pk) or {}
        if published.get("status") == Generation.Status.RUNNING and published["step"] > step:
            step, total = published["step"], published["total"] or total
    return {"step": step, "total": total}


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


def queue_wait(*, lane: int, created_at: dt.datetime | None = None) -> tuple[int, int | None]:
    """The one queue wait estimate: queued jobs that run before a job of `lane` created at
    `created_at` (None: a job created now, behind every queued job of its lane), and seconds
    until it starts at the workers' measured images per second (None until measured).

    Ahead of it: every running job, queued jobs of higher lanes, older queued jobs of its own.
    """
    queued_before = Q(queue_lane__gt=lane) | Q(queue_lane=lane)
    if created_at is not None:
        queued_before = Q(queue_lane__gt=lane) | Q(queue_lane=lane, created_at__lt=created_at)
    queued = Generation.objects.filter(queued_before, status=Generation.Status.QUEUED)
    position = queued.count()
    images_ahead = (
        Generation.objects.filter(
            Q(status=Generation.Status.RUNNING)
            | (Q(status=Generation.Status.QUEUED) & queued_before)
        ).aggregate(images=Sum("n"))["images"]
        or 0
    )
    if not images_ahead:
        return position, 0
    rate = throughput_fleet()  # images per second, summed over the workers' own rates
    return position, math.ceil(images_ahead / rate) if rate else None


def queue_estimate(*, generation: Generation) -> dict[str, Any]:
    """A queued job's position and seconds until it starts (`queue_wait`)."""
    if generation.status != Generation.Status.QUEUED:
        return {"position": 0, "estimated_start_seconds": 0}
    position, seconds = queue_wait(lane=generation.queue_lane, created_at=generation.created_at)
    return {"position": position, "estimated_start_seconds": seconds}
