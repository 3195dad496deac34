"""Deleting an image (its owner) and taking one down (moderation's reviewers)."""

import logging
import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone

from common.errors import NotFound
from generation.models import Image, QuarantinedImage, Share
from generation.services.cdn import media_copies_purge
from generation.services.quarantine import quarantine_release, quarantine_store
from generation.services.storage import storage_delete, storage_read

logger = logging.getLogger(__name__)


def image_delete(*, image: Image) -> Image:
    """The owner deletes an image: its file goes, its share link stops. Idempotent."""
    with transaction.atomic():
        locked = Image.objects.select_for_update().get(pk=image.pk)
        key = locked.storage_key
        if locked.deleted_at is None:
            locked.deleted_at = timezone.now()
        locked.storage_key = ""
        locked.save(update_fields=["deleted_at", "storage_key", "updated_at"])
        slugs = _share_deactivate(image=locked)
        # The file goes only once the row no longer points at it.
        transaction.on_commit(lambda: storage_delete(key=key))
        media_copies_purge(storage_keys=[key], share_slugs=slugs)
    return locked


def image_take_down(*, image_id: uuid.UUID | str, actor: Any, reason: str) -> Image:
    """A reviewer removes an image: marked removed, file deleted, share link 410 at once."""
    with transaction.atomic():
        locked = Image.objects.select_for_update().filter(pk=image_id).first()
        if locked is None:
            raise NotFound(f"No image with id '{image_id}'.", param="image_id")
        key = locked.storage_key
        if key:
            # Kept out of reach (no URL is ever signed for it) so an overturned decision can
            # restore it; the served file itself is deleted now.
            quarantine_store(
                image=locked,
                picture=storage_read(key=key),
                reason=QuarantinedImage.Reason.REMOVED,
            )
        locked.status = Image.Status.REMOVED
        locked.storage_key = ""
        locked.save(update_fields=["status", "storage_key", "updated_at"])
        slugs = _share_deactivate(image=locked)
        # Copies cached on the way (a CDN in front) go too; browsers keep theirs at most
        # EASEL_MEDIA_CACHE_SECONDS (generation.services.cdn).
        media_copies_purge(storage_keys=[key], share_slugs=slugs)
    logger.info(
        "image %s taken down by %s: %s",
        image_id,
        getattr(actor, "pk", actor),
        reason,
        extra={"image_id": str(image_id)},
    )
    return locked


def _share_deactivate(*, image: Image) -> list[str]:
    """Turns the image's share link off; the slugs it had, for the CDN purge."""
    shares = Share.objects.filter(image=image)
    slugs = list(shares.values_list("slug", flat=True))
    shares.filter(is_active=True).update(is_active=False, taken_down_at=timezone.now())
    return slugs


def image_restore(*, image_id: uuid.UUID | str, actor: Any, reason: str) -> Image:
    """Undoes a take-down or a withhold (a decision overturned): the image is its owner's
    again, from the quarantine, free. Idempotent.

    The share link stays off: its owner shares again if they wish.
    """
    return quarantine_release(image_id=image_id, actor=getattr(actor, "pk", actor), reason=reason)
