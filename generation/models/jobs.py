"""A generation request and the images it produced."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from common.models import TimeStampedModel, UUIDModel


class Generation(UUIDModel):
    """One request for `n` images.

    States: queued -> running -> succeeded | failed | blocked | canceled.
    """

    class Operation(models.TextChoices):
        GENERATE = "generate", "Text to image"
        EDIT = "edit", "Edit (inpainting)"
        VARIATION = "variation", "Variation"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        BLOCKED = "blocked"
        CANCELED = "canceled"

    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.BLOCKED, Status.CANCELED)
    LIVE_STATUSES = (Status.QUEUED, Status.RUNNING)  # a worker may still have work to do

    class Source(models.TextChoices):
        WEB = "web"
        OPENAI_API = "openai_api"
        NATIVE_API = "native_api"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations"
    )
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="generations",
    )
    # The integrator's own end-user id (OpenAI's `user` parameter), for per-end-user strikes.
    end_user = models.CharField(max_length=256, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    operation = models.CharField(max_length=16, choices=Operation.choices)
    model = models.CharField(max_length=128)
    prompt = models.TextField(blank=True)
    n = models.PositiveSmallIntegerField()
    # The long side; width x height is the shape (generation/services/image_options.py).
    size = models.PositiveSmallIntegerField()
    width = models.PositiveSmallIntegerField()
    height = models.PositiveSmallIntegerField()
    # What the request asked for (docs/api.md, "Parameters"): kept so the answer tells the truth.
    quality = models.CharField(max_length=16, default="auto")
    output_format = models.CharField(max_length=8, default="png")
    output_compression = models.PositiveSmallIntegerField(default=100)
    background = models.CharField(max_length=16, default="auto")
    moderation = models.CharField(max_length=8, default="auto")
    input_fidelity = models.CharField(max_length=8, default="low")
    # Previews a streamed request asked for (0-3), published from intermediate latents.
    partial_images = models.PositiveSmallIntegerField(default=0)
    # The prompt's tokens by the model's own tokenizer, counted by the worker (OpenAI's `usage`).
    input_tokens = models.PositiveIntegerField(default=0)
    steps = models.PositiveSmallIntegerField()
    guidance_scale = models.FloatField()
    seed = models.BigIntegerField(help_text="Image i uses seed + i.")
    # Storage keys of the uploaded image and mask (edits, variations); deleted when settled.
    input_image_key = models.CharField(max_length=255, blank=True)
    input_mask_key = models.CharField(max_length=255, blank=True)
    # Reference images (an edit's or variation's images after the first), for the model's
    # IP-Adapter; deleted with the other inputs. Their count is the batching key: the jobs of
    # one pipeline call have as many references each (generation/inference/references.py).
    input_reference_keys = models.JSONField(default=list, blank=True)
    reference_count = models.PositiveSmallIntegerField(default=0)
    credits_reserved = models.PositiveIntegerField(default=0)
    credits_captured = models.PositiveIntegerField(default=0)
    queue_lane = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    progress_step = models.PositiveSmallIntegerField(default=0)
    progress_total = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    withheld_count = models.PositiveSmallIntegerField(default=0)
    # Plain words for the customer: why it failed, or why images were withheld.
    status_message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Who holds the claim ("host:pid" of the worker child) and when it last showed life: a
    # redelivered task re-claims a RUNNING row only when that worker is gone (see tasks.py).
    worker_id = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the job's message was last sent to the GPU queue (the first send follows the insert
    # at once): a job still queued EASEL_GENERATION_RESEND_AFTER seconds later is sent again
    # from here (generation/services/outbox.py), whatever happened to the message.
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "-created_at"]),
            models.Index(fields=["status", "queue_lane", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.id} ({self.status})"

    @property
    def input_keys(self) -> list[str]:
        """Every stored upload of this job (image, mask, references): what settling deletes."""
        keys = [self.input_image_key, self.input_mask_key, *self.input_reference_keys]
        return [key for key in keys if key]

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def size_label(self) -> str:
        return f"{self.width}x{self.height}"


class Image(UUIDModel):
    """One output image. Withheld images have no storage key: nothing a URL can reach."""

    class Status(models.TextChoices):
        DELIVERED = "delivered"
        WITHHELD = "withheld"  # stopped by output screening; never stored where a URL reaches
        REMOVED = "removed"  # taken down by staff after delivery

    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="images")
    index = models.PositiveSmallIntegerField()
    seed = models.BigIntegerField()
    width = models.PositiveSmallIntegerField()
    height = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices)
    storage_key = models.CharField(max_length=255, blank=True)
    # Set by moderation when the image waits for a reviewer: it cannot be shared until cleared.
    under_review = models.BooleanField(default=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["generation", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["generation", "index"], name="image_unique_index_per_generation"
            )
        ]

    def __str__(self) -> str:
        return f"image {self.id}"


class IdempotencyRecord(TimeStampedModel):
    """`Idempotency-Key` on the APIs: the first answer to a key is the answer for 24 hours."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of method, path, body."
    )
    generation = models.ForeignKey(Generation, null=True, blank=True, on_delete=models.CASCADE)
    # Chosen when the key is claimed and given to admission_admit as the job's id, so that a
    # request which died after creating its job, before recording it here, is answered by that
    # job on a retry instead of making a second one.
    planned_generation_id = models.UUIDField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")
        ]
