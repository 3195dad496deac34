"""Accounts: creation by operators, tier changes, and deletion by the person themselves."""

import logging
from functools import partial
from importlib import import_module

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import DEFAULT_TIER_NAME, ApiKey, User
from accounts.selectors import tier_get
from accounts.signals import user_deleting
from common.errors import Conflict, InvalidRequest

logger = logging.getLogger(__name__)

DELETED_EMAIL_DOMAIN = "deleted.invalid"  # .invalid never resolves: nothing is ever sent there
DELETED_KEY_NAME = "(account deleted)"
# Engines whose sessions live in the database, where we can find and end a user's sessions.
_DATABASE_SESSION_ENGINES = {
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
}


def _normalised_email(email: str) -> str:
    email = email.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise InvalidRequest(f"'{email}' is not a valid e-mail address.", param="email") from None
    return email


def user_create(
    *,
    email: str,
    password: str | None = None,
    tier_name: str = DEFAULT_TIER_NAME,
    is_staff: bool = False,
    verified: bool = False,
) -> User:
    """An account made by an operator. Without a password the person sets one by reset."""
    email = _normalised_email(email)
    tier = tier_get(name=tier_name)
    if User.objects.filter(email__iexact=email).exists():
        raise _email_taken(email)
    if password is not None:
        try:
            validate_password(password, user=User(email=email))
        except ValidationError as error:
            raise InvalidRequest(" ".join(error.messages), param="password") from None
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email, password=password, tier=tier, is_staff=is_staff
            )
            EmailAddress.objects.create(user=user, email=email, verified=verified, primary=True)
    except IntegrityError:  # a concurrent creation of the same address won the race
        raise _email_taken(email) from None
    return user


def _email_taken(email: str) -> Conflict:
    return Conflict(f"An account with the e-mail address '{email}' already exists.", param="email")


def user_set_tier(*, user: User, tier_name: str) -> User:
    """Idempotent: setting the tier a user already has changes nothing."""
    if user.deleted_at is not None:
        raise InvalidRequest("This account has been deleted.", param="email")
    tier = tier_get(name=tier_name)
    if user.tier_id != tier.pk:
        User.objects.filter(pk=user.pk).update(tier=tier)
        user.tier = tier
    return user


def user_delete(*, user: User) -> User:
    """Deletes the person's account: their data goes, the anonymised row stays for the ledger.

    Idempotent, and final: the row is locked and checked first, so a replayed or concurrent
    request finds it deleted and changes nothing, and nothing here can be reversed by a request
    (the password is unusable, the e-mail address is gone, every key is revoked).
    """
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if locked.deleted_at is not None:
            return locked
        # Before anonymising, so receivers still see who the user was.
        user_deleting.send(sender=User, user=locked)
        now = timezone.now()
        ApiKey.objects.filter(user=locked, revoked_at__isnull=True).update(revoked_at=now)
        ApiKey.objects.filter(user=locked).update(name=DELETED_KEY_NAME)  # names are free text
        EmailAddress.objects.filter(user=locked).delete()
        Authenticator.objects.filter(user=locked).delete()
        locked.email = f"deleted-{locked.pk}@{DELETED_EMAIL_DOMAIN}"
        locked.display_name = ""
        # Changing the password hash also invalidates every session Django would otherwise accept.
        locked.set_unusable_password()
        locked.is_active = False
        locked.is_staff = False
        locked.is_superuser = False
        locked.last_login = None
        locked.deleted_at = now
        locked.save()
        locked.groups.clear()
        locked.user_permissions.clear()
        transaction.on_commit(partial(_sessions_end, user_id=locked.pk))
    logger.info("account deleted", extra={"user_id": locked.pk})
    return locked


def _sessions_end(*, user_id: int) -> None:
    """Removes the user's stored sessions. Runs after commit: it scans the live sessions, and a
    deletion is rare enough for that to be cheap. Other engines rely on the hash change above."""
    if settings.SESSION_ENGINE not in _DATABASE_SESSION_ENGINES:
        return
    from django.contrib.sessions.models import Session

    store = import_module(settings.SESSION_ENGINE).SessionStore
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
        if session.get_decoded().get("_auth_user_id") == str(user_id):
            store(session_key=session.session_key).delete()
