"""The content policy, what it decided, and the people and process around it."""

from django.conf import settings
from django.db import models

from common.models import TimeStampedModel


class Category(models.TextChoices):
    SEXUAL = "sexual", "Sexual content"
    SEXUAL_MINORS = "sexual_minors", "Sexual content involving minors"
    VIOLENCE = "violence", "Violence and gore"
    SELF_HARM = "self_harm", "Self-harm"
    HATE = "hate", "Hate"
    HARASSMENT = "harassment", "Harassment"
    ILLEGAL = "illegal", "Illegal activity"
    DECEPTION = "deception", "Deception"
    SENSITIVE_EVENTS = "sensitive_events", "Documentary depictions of sensitive events"
    PUBLIC_FIGURE = "public_figure", "Public-figure likeness"
    REALISTIC_FACE_UPLOAD = "realistic_face_upload", "Uploads of real people's faces"


class Outcome(models.TextChoices):
    ALLOW = "allow"
    REVIEW = "review"  # allowed, and a person looks at it
    BLOCK = "block"


class PolicyVersion(models.Model):
    """One version of the whole policy. Never edited: a change is a new version."""

    version = models.PositiveIntegerField(unique=True)
    # {category: {"action": "block"|"review"|"allow", "threshold": float, ...}}
    rules = models.JSONField()
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"policy v{self.version}"


class PublicFigure(TimeStampedModel):
    """A real, widely known person whose likeness Easel will not generate: living, or deceased
    within the policy's terms (docs/moderation-policy.md, "Deceased figures")."""

    name = models.CharField(max_length=200, db_index=True)
    # Full alternative names (block anywhere) and single words that are also common words
    # (block only in a person context: "photo of Swift", not "a swift river").
    aliases = models.JSONField(default=list, blank=True)
    ambiguous_aliases = models.JSONField(default=list, blank=True)
    category = models.CharField(
        max_length=64, blank=True, help_text="e.g. politician, actor, athlete"
    )
    external_id = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="e.g. a Wikidata id"
    )
    # Short descriptions that single the person out ("45th president of the United States",
    # "founder of SpaceX"): a prompt that describes them this precisely names them.
    roles = models.JSONField(default=list, blank=True)
    died_year = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Empty for the living."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["name"], name="public_figure_unique_name")]

    def __str__(self) -> str:
        return self.name


class FigureFace(TimeStampedModel):
    """A reference face of a public figure: its embedding, computed from a photo."""

    figure = models.ForeignKey(PublicFigure, on_delete=models.CASCADE, related_name="faces")
    embedding = models.JSONField(help_text="The face embedding as a list of floats.")
    embedding_model = models.CharField(max_length=64)
    source_name = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return f"face of {self.figure_id} ({self.embedding_model})"


class Decision(models.Model):
    """Every screening decision: input, stage, scores, model versions, policy version, outcome."""

    class Stage(models.TextChoices):
        PROMPT = "prompt"
        UPLOAD = "upload"
        OUTPUT = "output"

    stage = models.CharField(max_length=16, choices=Stage.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    categories = models.JSONField(default=list, help_text="Categories that fired.")
    scores = models.JSONField(default=dict)
    model_versions = models.JSONField(default=dict)
    policy_version = models.ForeignKey(
        PolicyVersion, on_delete=models.PROTECT, related_name="decisions"
    )
    matched_figure = models.ForeignKey(
        PublicFigure, null=True, blank=True, on_delete=models.SET_NULL
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    end_user = models.CharField(max_length=256, blank=True)
    prompt = models.TextField(blank=True)
    generation_id = models.UUIDField(null=True, blank=True, db_index=True)
    image_id = models.UUIDField(null=True, blank=True, db_index=True)
    # Set when an appeal or a reviewer overturned it: counts as a false positive of its rule.
    overturned = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["stage", "created_at"])]

    def __str__(self) -> str:
        return f"{self.stage} decision {self.pk}: {self.outcome}"


class Case(TimeStampedModel):
    """Something a person must look at."""

    class Source(models.TextChoices):
        REVIEW_DECISION = "review_decision"
        WITHHELD_OUTPUT = "withheld_output"
        REPORT = "report"
        APPEAL = "appeal"
        STRIKES = "strikes"
        FACE_UPLOAD_SAMPLE = "face_upload_sample"
        ENROLMENT_REVIEW = "enrolment_review"  # a likeness enrolment that looks like another

    class State(models.TextChoices):
        OPEN = "open"
        CLAIMED = "claimed"
        RESOLVED = "resolved"

    class Resolution(models.TextChoices):
        UPHELD = "upheld"
        OVERTURNED = "overturned"

    source = models.CharField(max_length=32, choices=Source.choices)
    category = models.CharField(max_length=32, choices=Category.choices, blank=True)
    # Higher first; ties go to the oldest.
    priority = models.PositiveSmallIntegerField(default=1)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.OPEN, db_index=True
    )
    subject_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_cases",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_cases",
    )
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    generation_id = models.UUIDField(null=True, blank=True)
    image_id = models.UUIDField(null=True, blank=True, db_index=True)
    summary = models.TextField(blank=True)
    resolution = models.CharField(max_length=16, choices=Resolution.choices, blank=True)
    actions = models.JSONField(default=list, blank=True)
    resolution_reason = models.TextField(blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "-priority", "created_at"])]


class Report(TimeStampedModel):
    """A person (logged in or not) reports a shared image."""

    image_id = models.UUIDField(db_index=True)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    reason = models.CharField(max_length=32, choices=Category.choices)
    details = models.TextField(blank=True, max_length=2000)
    case = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="reports"
    )


class Appeal(TimeStampedModel):
    """A user asks a person to look again at a block or a removal."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="appeals"
    )
    decision = models.ForeignKey(
        Decision, null=True, blank=True, on_delete=models.CASCADE, related_name="appeals"
    )
    image_id = models.UUIDField(null=True, blank=True)
    text = models.TextField(max_length=2000)
    case = models.OneToOneField(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="appeal"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "decision"], name="one_appeal_per_decision"),
        ]


class Strike(models.Model):
    """A blocked attempt, counted in a sliding window per user and per integrator's end user."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="strikes"
    )
    end_user = models.CharField(max_length=256, blank=True)
    decision = models.OneToOneField(Decision, null=True, blank=True, on_delete=models.SET_NULL)
    category = models.CharField(max_length=32, choices=Category.choices)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "end_user", "created_at"])]

    def __str__(self) -> str:
        return f"strike on {self.user_id} ({self.category})"


class Suspension(TimeStampedModel):
    """No generating until `ends_at` (never, for a ban), unless lifted earlier."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="suspensions"
    )
    end_user = models.CharField(max_length=256, blank=True, help_text="Empty: the whole account.")
    reason = models.TextField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: a ban.")
    lifted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL)


class AuditLogEntry(models.Model):
    """Every staff action. Append-only: rows are never updated or deleted."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=64)
    target_id = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type} {self.target_id}"


class LikenessEnrolment(TimeStampedModel):
    """A face protected from generation: a signed-in person's own (with their recorded
    consent), or a public figure's enrolled by staff (with the photos' source). Enrolment only
    ever blocks: outputs and uploads that match it are withheld for everyone but its owner.
    Withdrawing or removing it deletes its embeddings; the row stays for the audit trail."""

    class Kind(models.TextChoices):
        SELF = "self", "The person's own face"
        PUBLIC_FIGURE = "public_figure", "A public figure, enrolled by staff"

    class State(models.TextChoices):
        ACTIVE = "active"
        WITHDRAWN = "withdrawn"  # by the person: embeddings deleted
        REMOVED = "removed"  # by staff after review: embeddings deleted

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SELF)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.ACTIVE, db_index=True
    )
    # The person protected (kind "self"); their own generations are never withheld for it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="likeness_enrolments",
    )
    figure = models.ForeignKey(
        PublicFigure, null=True, blank=True, on_delete=models.CASCADE, related_name="enrolments"
    )
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    consent_text = models.TextField(blank=True, help_text="The statement the person agreed to.")
    consent_at = models.DateTimeField(null=True, blank=True)
    # Set when the face looks like a registered figure or another person's enrolment: staff
    # decide whether it is the enrolling person's own.
    needs_review = models.BooleanField(default=False, db_index=True)
    review_reason = models.CharField(max_length=255, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(state="active", kind="self"),
                name="one_active_self_enrolment_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"likeness enrolment {self.pk} ({self.kind}, {self.state})"


class EnrolledFace(TimeStampedModel):
    """One photo's face embedding of an enrolment. Never shown to anyone; deleted on withdrawal."""

    enrolment = models.ForeignKey(LikenessEnrolment, on_delete=models.CASCADE, related_name="faces")
    embedding = models.JSONField()
    embedding_model = models.CharField(max_length=64)
    # The photo's file name (self), or where a staff-enrolled photo came from (URL, credit).
    source = models.CharField(max_length=500, blank=True)

    def __str__(self) -> str:
        return f"face of enrolment {self.enrolment_id} ({self.embedding_model})"
