"""Public sharing and collections of images."""

from django.conf import settings
from django.db import models

from common.models import TimeStampedModel


class Share(TimeStampedModel):
    """A public link `/s/<slug>` to one image. Taken down: the page answers 410 at once."""

    image = models.OneToOneField("generation.Image", on_delete=models.CASCADE, related_name="share")
    slug = models.SlugField(max_length=32, unique=True)
    is_active = models.BooleanField(default=True)
    in_explore = models.BooleanField(
        default=True, help_text="Listed in the public Explore gallery."
    )
    taken_down_at = models.DateTimeField(null=True, blank=True)
    # Distinct viewers of the share page: each signed-in account or visitor address counts
    # once a day, and the owner never (generation.services.sharing.share_view_record).
    view_count = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["in_explore", "is_active", "-created_at"]),
            models.Index(
                fields=["in_explore", "is_active", "-view_count"], name="share_most_viewed"
            ),
        ]

    def __str__(self) -> str:
        return f"/s/{self.slug}"


class Collection(TimeStampedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="collections"
    )
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=32, unique=True)
    is_public = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="collection_name_unique_per_user")
        ]

    def __str__(self) -> str:
        return self.name


class CollectionItem(TimeStampedModel):
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="items")
    image = models.ForeignKey(
        "generation.Image", on_delete=models.CASCADE, related_name="collection_items"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "image"], name="collection_item_unique")
        ]
