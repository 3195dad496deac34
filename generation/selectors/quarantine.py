"""Reads of the quarantine (generation.services.quarantine): for staff only."""

from generation.models import Image, QuarantinedImage


def quarantined_key_for_staff(*, image: Image) -> str | None:
    """The storage key of the image's quarantined copy while one is kept; None once it was
    given back or purged. Only the staff console serves it."""
    record = QuarantinedImage.objects.filter(image=image).first()
    return record.storage_key if record is not None and record.is_held else None
