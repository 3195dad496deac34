"""Outpainting: one image placed on a larger canvas, filled frame by frame by edits."""

from django.conf import settings
from django.db import models

from common.models import UUIDModel


class Extension(UUIDModel):
    """The plan and the canvas of one outpainting. States: running -> succeeded | stopped.

    `canvas_key` is the canvas as filled so far (the source pasted at its place, then each
    finished frame); once every frame is done it is the stitched result.
    """

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        STOPPED = "stopped"  # a frame was refused, blocked, withheld or failed: nothing more runs

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="extensions"
    )
    source_image = models.ForeignKey(
        "generation.Image", null=True, on_delete=models.SET_NULL, related_name="extensions"
    )
    prompt = models.TextField()
    frame_size = models.PositiveSmallIntegerField()
    canvas_width = models.PositiveSmallIntegerField()
    canvas_height = models.PositiveSmallIntegerField()
    # Where the source's top-left corner sits on the canvas.
    source_x = models.PositiveSmallIntegerField()
    source_y = models.PositiveSmallIntegerField()
    credits_quoted = models.PositiveIntegerField(help_text="Frames x the price of one frame.")
    canvas_key = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    status_message = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"extension {self.id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status != self.Status.RUNNING


class ExtensionFrame(models.Model):
    """One square of the canvas, painted by one edit generation. States:
    planned -> starting (claimed, the generation is being created) -> running -> done | stopped."""

    class Status(models.TextChoices):
        PLANNED = "planned"
        STARTING = "starting"
        RUNNING = "running"
        DONE = "done"
        STOPPED = "stopped"

    extension = models.ForeignKey(Extension, on_delete=models.CASCADE, related_name="frames")
    index = models.PositiveSmallIntegerField()
    x = models.PositiveSmallIntegerField()
    y = models.PositiveSmallIntegerField()
    generation = models.OneToOneField(
        "generation.Generation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="extension_frame",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLANNED)
    # Set when the frame is claimed (STARTING): the id its generation will have, and when. A
    # claim whose request died is recovered from these (services/outpainting.py).
    planned_generation_id = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["extension", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["extension", "index"], name="extension_frame_unique_index"
            )
        ]

    def __str__(self) -> str:
        return f"frame {self.index} of {self.extension_id}"
