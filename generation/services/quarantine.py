"""The quarantine: withheld outputs and taken-down images, kept where no customer URL reaches.

- `quarantine_store` keeps an image's file under `quarantine/` (never signed, refused by the
  signed media view, shown to staff only, blurred, in the console) and makes sure no copy is
  left at the image's customer key. The worker calls it where output screening withholds an
  image; a take-down calls it with the delivered file.
- `quarantine_release` gives the image to its owner when a reviewer overturns the decision: a
  withheld output is then watermarked and signed like any delivered image, and costs nothing
  (its credits were released when the job settled; nothing is captured now). Idempotent.
- `quarantine_purge` (Celery beat) deletes files kept longer than
  EASEL_QUARANTINE_RETENTION_DAYS, except while a case about the image is open.
"""

import datetime as dt
import io
import logging
import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from PIL import Image as PILImage

from common.errors import Conflict, NotFound
from generation.models import Generation, Image, QuarantinedImage
from generation.services.storage import (
    image_key,
    quarantine_key,
    storage,
    storage_delete,
    storage_read,
    storage_write,
)
from moderation.selectors import images_with_open_cases

logger = logging.getLogger(__name__)


def _png(picture: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def quarantine_store(
    *,
    image: Image,
    picture: PILImage.Image | bytes,
    reason: str = QuarantinedImage.Reason.WITHHELD,
) -> QuarantinedImage:
    """Keep `picture` (a withheld output, or the bytes of a delivered file being taken down) in
    the quarantine and delete any copy at the image's customer key. Idempotent per image: a
    rerun of the job overwrites the same quarantined file and record."""
    customer_key = image_key(
        generation_id=image.generation_id,
        index=image.index,
        extension=image.generation.output_format,
    )
    key = quarantine_key(key=customer_key)
    storage_write(key=key, content=picture if isinstance(picture, bytes) else _png(picture))
    storage_delete(key=customer_key)  # a rerun or a take-down must not leave it reachable
    record, _ = QuarantinedImage.objects.update_or_create(
        image=image,
        defaults={
            "reason": reason,
            "storage_key": key,
            "purge_after": timezone.now()
            + dt.timedelta(days=settings.EASEL_QUARANTINE_RETENTION_DAYS),
            "released_at": None,
            "purged_at": None,
        },
    )
    return record


def quarantine_release(*, image_id: uuid.UUID | str, actor: Any, reason: str) -> Image:
    """Give a withheld or taken-down image back to its owner (a decision overturned), free.

    A withheld output gets the visible signature, the invisible watermark and the provenance
    metadata now, as every delivered image does. Its generation counts one image fewer
    withheld, and a generation blocked entirely becomes succeeded. Idempotent: a delivered
    image is answered as it is. Conflict when no copy is kept any more (purged, or the owner
    deleted it).
    """
    with transaction.atomic():
        image = (
            Image.objects.select_for_update()
            .select_related("generation")
            .filter(pk=image_id)
            .first()
        )
        if image is None:
            raise NotFound(f"No image with id '{image_id}'.", param="image_id")
        if image.status == Image.Status.DELIVERED:
            return image
        record = QuarantinedImage.objects.select_for_update().filter(image=image).first()
        if image.deleted_at is not None or record is None or not record.is_held:
            raise Conflict(
                "No copy of this image is kept any more (quarantined images are deleted after "
                f"{settings.EASEL_QUARANTINE_RETENTION_DAYS} days), so it cannot be given back."
            )
        content = storage_read(key=record.storage_key)
        if record.reason == QuarantinedImage.Reason.WITHHELD:
            content = _marked(image=image, content=content)
        key = image_key(
            generation_id=image.generation_id,
            index=image.index,
            extension=image.generation.output_format,
        )
        storage_write(key=key, content=content)
        was_withheld = image.status == Image.Status.WITHHELD
        image.status, image.storage_key, image.under_review = Image.Status.DELIVERED, key, False
        image.save(update_fields=["status", "storage_key", "under_review", "updated_at"])
        record.released_at = timezone.now()
        record.save(update_fields=["released_at", "updated_at"])
        if was_withheld:
            _generation_count_released(generation=image.generation)
        held = record.storage_key
        transaction.on_commit(lambda: storage_delete(key=held))
    logger.info("image %s released from quarantine by %s: %s", image_id, actor, reason)
    return image


def _marked(*, image: Image, content: bytes) -> bytes:
    """A withheld output made deliverable: marks and content credentials, as the worker does.
    An edit's input is usually gone by now (deleted when the job settled)."""
    from generation.provenance.delivery import delivered_image

    key = image.generation.input_image_key
    ingredient = storage_read(key=key) if key and storage().exists(key) else None
    with PILImage.open(io.BytesIO(content)) as picture:
        return delivered_image(picture=picture, image=image, ingredient=ingredient)


def _generation_count_released(*, generation: Generation) -> None:
    """One withheld image of this generation was delivered after review. Its charge stays what
    the job captured: the released image is free."""
    Generation.objects.filter(pk=generation.pk, withheld_count__gt=0).update(
        withheld_count=F("withheld_count") - 1, updated_at=timezone.now()
    )
    Generation.objects.filter(pk=generation.pk, status=Generation.Status.BLOCKED).update(
        status=Generation.Status.SUCCEEDED,
        status_message="Withheld images were released after a review. They were not charged.",
        updated_at=timezone.now(),
    )


def quarantine_purge(*, now: dt.datetime | None = None) -> int:
    """Delete quarantined files past their retention; those a case still looks at wait for it.

    Run by Celery beat. The record stays (purged_at set), so the console and a late appeal can
    say the file is gone rather than fail."""
    now = now or timezone.now()
    due = QuarantinedImage.objects.filter(
        released_at__isnull=True, purged_at__isnull=True, purge_after__lte=now
    ).values_list("pk", "image_id", "storage_key")
    purged = 0
    for chunk in _chunks(list(due.iterator(chunk_size=500)), size=500):
        waiting = images_with_open_cases(image_ids=[image_id for _, image_id, _ in chunk])
        for pk, image_id, key in chunk:
            if image_id in waiting:
                continue
            # The row first: once it says purged, nothing tries to read the file.
            if QuarantinedImage.objects.filter(pk=pk, purged_at__isnull=True).update(
                purged_at=now, updated_at=now
            ):
                storage_delete(key=key)
                purged += 1
    if purged:
        logger.info("purged %s quarantined images", purged)
    return purged


def _chunks(rows: list[Any], *, size: int) -> list[list[Any]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]
