"""Who the user is and what their tier allows. API keys are stored as keyed hashes only."""

from typing import ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from common.models import TimeStampedModel

DEFAULT_TIER_NAME = "free"
STUDIO_SQUARES = (256, 512, 1024)


class Tier(TimeStampedModel):
    """A usage tier: what a plan gives and what it allows. Seeded by a migration, staff-editable."""

    class Lane(models.IntegerChoices):
        # Higher runs first on the GPU queue; lower still progresses when higher lanes are empty.
        LOW = 0, "low"
        NORMAL = 1, "normal"
        HIGH = 2, "high"

    name = models.SlugField(max_length=32, unique=True)
    display_name = models.CharField(max_length=64)
    is_public = models.BooleanField(default=True, help_text="Offered on the pricing page.")
    sort_order = models.PositiveSmallIntegerField(default=0)
    monthly_price_cents = models.PositiveIntegerField(default=0)
    stripe_price_id = models.CharField(max_length=128, blank=True)
    monthly_credits = models.PositiveIntegerField()
    requests_per_minute = models.PositiveIntegerField()
    images_per_minute = models.PositiveIntegerField()
    concurrent_jobs = models.PositiveIntegerField()
    queue_lane = models.PositiveSmallIntegerField(choices=Lane.choices, default=Lane.NORMAL)
    max_n = models.PositiveSmallIntegerField()
    max_pixels = models.PositiveIntegerField(
        default=262144, help_text="The most pixels (width x height) one image may have."
    )
    uploads_allowed = models.BooleanField(help_text="Edits and variations of uploaded images.")
    face_uploads_allowed = models.BooleanField(
        default=False, help_text="Uploads showing a real face, with the user's consent statement."
    )
    private_images_allowed = models.BooleanField(
        help_text="Images may be kept out of the public Explore gallery when shared."
    )

    class Meta:
        ordering = ["sort_order"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def allowed_sizes(self) -> list[int]:
        """The square sides within the cap (the studio's size menu)."""
        return [side for side in STUDIO_SQUARES if side * side <= self.max_pixels]


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: object) -> "User":
        if not email:
            raise ValueError("An e-mail address is required.")
        fields.setdefault("tier", Tier.objects.get(name=DEFAULT_TIER_NAME))
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: object) -> "User":
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Every creation path sets it (the manager, the sign-up adapter); none may leave it empty.
    tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="users")
    # Set when the person deleted their account: the row stays (anonymised) for the ledger.
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email


class ApiKey(TimeStampedModel):
    """A developer's key. The secret is shown once; only its keyed hash is kept.

    Scopes are `<area>.read` (look) and `<area>.write` (change) per area an API key can reach;
    docs/accounts.md has the table of which endpoint needs which.
    """

    class Scope(models.TextChoices):
        GENERATE = "images.generate", "Generate, cancel, delete and share images"
        READ = "images.read", "Read own generations, images and collections"
        MODERATION_READ = "moderation.read", "Read blocked decisions and suspensions"
        MODERATION_WRITE = "moderation.write", "Appeal blocked decisions"
        WEBHOOKS_READ = "webhooks.read", "Read webhook endpoints and deliveries"
        WEBHOOKS_WRITE = "webhooks.write", "Add, change, remove and replay webhooks"
        KEYS_READ = "keys.read", "List API keys"
        KEYS_WRITE = "keys.write", "Create and revoke API keys"
        BILLING_READ = "billing.read", "Read balance, credit history and usage"
        BILLING_WRITE = "billing.write", "Start purchases, subscriptions and the billing portal"
        ACCOUNT_READ = "account.read", "Read the account and its plan"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Shown in lists; not secret.")
    secret_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    monthly_credit_cap = models.PositiveIntegerField(null=True, blank=True)
    # Null: never expires. Past it the key answers 401 saying that it expired.
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired
