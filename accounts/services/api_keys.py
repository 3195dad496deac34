"""API keys: created with a secret shown once, stored as a keyed hash, revoked at once,
expiring when their owner said so."""

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiKey, User
from common.errors import AuthenticationError, InvalidRequest

SECRET_PREFIX = "sk-"
SECRET_RANDOM_BYTES = 32  # 43 URL-safe characters after "sk-"
PREFIX_LENGTH = 11  # "sk-" and 8 characters: enough to tell keys apart, useless to guess with
ALL_SCOPES = frozenset(ApiKey.Scope.values)
# What a key gets when its creator names no scopes: what an integration that makes images needs
# (including seeing and appealing its blocks). Managing keys, webhooks, billing and reading the
# account must be asked for by name, so a key pasted into a script cannot do them by default.
DEFAULT_SCOPES = frozenset(
    {
        ApiKey.Scope.GENERATE,
        ApiKey.Scope.READ,
        ApiKey.Scope.MODERATION_READ,
        ApiKey.Scope.MODERATION_WRITE,
    }
)
# The column is a PostgreSQL integer; a larger cap would fail inside the database.
MONTHLY_CREDIT_CAP_MAX = 2**31 - 1
# Enough for every environment and integration; a cap stops a script from minting keys forever.
MAX_ACTIVE_KEYS_PER_USER = 50


@dataclass(frozen=True)
class CreatedApiKey:
    key: ApiKey
    secret: str  # shown once to its owner, never stored


def api_key_hash(secret: str) -> str:
    """A keyed hash: fast is right for 256-bit random secrets, the key stops offline guessing."""
    pepper = settings.API_KEY_HASH_KEY.encode()
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def _validated_scopes(scopes: list[str] | None) -> list[str]:
    if scopes is None:
        return sorted(DEFAULT_SCOPES)
    unknown = sorted(set(scopes) - ALL_SCOPES)
    if unknown:
        raise InvalidRequest(
            f"Unknown scope {unknown[0]!r}; choose from {', '.join(sorted(ALL_SCOPES))}.",
            param="scopes",
        )
    if not scopes:
        raise InvalidRequest("A key needs at least one scope.", param="scopes")
    return sorted(set(scopes))


def api_key_create(
    *,
    user: User,
    name: str,
    scopes: list[str] | None = None,
    monthly_credit_cap: int | None = None,
    expires_at: dt.datetime | None = None,
) -> CreatedApiKey:
    """A new key; `scopes=None` means DEFAULT_SCOPES, `expires_at=None` never expires.

    At most MAX_ACTIVE_KEYS_PER_USER active keys per account, exactly: the count and the insert
    happen while the user's row is locked, so concurrent creations at the cap cannot all pass.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidRequest("A key's name must be 1 to 100 characters.", param="name")
    if monthly_credit_cap is not None and not 0 <= monthly_credit_cap <= MONTHLY_CREDIT_CAP_MAX:
        raise InvalidRequest(
            f"The monthly credit cap must be between 0 and {MONTHLY_CREDIT_CAP_MAX}.",
            param="monthly_credit_cap",
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidRequest("A key's expiry must be in the future.", param="expires_at")
    scopes = _validated_scopes(scopes)
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()
        active = api_keys_active_count(user=user)
        if active >= MAX_ACTIVE_KEYS_PER_USER:
            raise InvalidRequest(
                f"You have {active} active API keys, the most an account may have. "
                "Revoke one you no longer use first.",
                code="too_many_api_keys",
            )
        secret = SECRET_PREFIX + secrets.token_urlsafe(SECRET_RANDOM_BYTES)
        key = ApiKey.objects.create(
            user=user,
            name=name,
            prefix=secret[:PREFIX_LENGTH],
            secret_hash=api_key_hash(secret),
            scopes=scopes,
            monthly_credit_cap=monthly_credit_cap,
            expires_at=expires_at,
        )
    return CreatedApiKey(key=key, secret=secret)


def api_keys_active_count(*, user: User) -> int:
    """Keys that still work: not revoked and not expired (an expired key frees its place)."""
    return (
        ApiKey.objects.filter(user=user, revoked_at__isnull=True)
        .exclude(expires_at__lte=timezone.now())
        .count()
    )


def api_key_authenticate(*, secret: str) -> ApiKey | None:
    """The active key this secret belongs to, or None. Compares hashes in constant time.

    Raises AuthenticationError (401) for a genuine key past its expiry, so the caller can say
    why it stopped working instead of "incorrect key".
    """
    if not secret.startswith(SECRET_PREFIX) or len(secret) < PREFIX_LENGTH + 24:
        return None
    key = (
        ApiKey.objects.select_related("user", "user__tier")
        .filter(prefix=secret[:PREFIX_LENGTH], revoked_at__isnull=True)
        .first()
    )
    if key is None or not hmac.compare_digest(key.secret_hash, api_key_hash(secret)):
        return None
    if not key.user.is_active:
        return None
    if key.is_expired:
        assert key.expires_at is not None
        raise AuthenticationError(
            f"The API key {key.prefix}… expired on "
            f"{key.expires_at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC. "
            "Create a new key in your Easel account."
        )
    _touch_last_used(key)
    return key


def _touch_last_used(key: ApiKey) -> None:
    """Writes at most once a minute per key, so a busy key does not turn every call into a write."""
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    """Idempotent: revoking a revoked key keeps its first revocation time."""
    with transaction.atomic():
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    key.refresh_from_db(fields=["revoked_at"])
    return key
