"""Images kept where no customer URL reaches: withheld outputs and taken-down images."""

from django.db import models

from common.models import TimeStampedModel
from generation.models.jobs import Image


class QuarantinedImage(TimeStampedModel):
    """The file of a withheld or taken-down image, under the `quarantine/` storage prefix.

    Staff see it (blurred) in the console; an overturned decision gives it back to its owner
    (generation.services.quarantine.quarantine_release); otherwise it is deleted once
    `purge_after` passes (EASEL_QUARANTINE_RETENTION_DAYS). No URL is ever signed for it.
    """

    class Reason(models.TextChoices):
        WITHHELD = "withheld"  # stopped by output screening: the raw output, not yet marked
        REMOVED = "removed"  # taken down after delivery: the delivered (marked) file

    image = models.OneToOneField(Image, on_delete=models.CASCADE, related_name="quarantine")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    storage_key = models.CharField(max_length=255)
    purge_after = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["purge_after"],
                condition=models.Q(released_at__isnull=True, purged_at__isnull=True),
                name="quarantine_due",
            )
        ]

    def __str__(self) -> str:
        return f"quarantined {self.reason} image {self.image_id}"

    @property
    def is_held(self) -> bool:
        """The file is still kept: neither given back nor purged."""
        return self.released_at is None and self.purged_at is None
