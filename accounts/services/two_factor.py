"""Two-factor authentication set up from the command line: the local admin that `make run`
creates must reach the staff console, which asks for a second factor."""

from dataclasses import dataclass

from allauth.mfa.adapter import get_adapter
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.db import transaction

from accounts.models import User


@dataclass(frozen=True)
class TwoFactorSetup:
    secret: str  # the authenticator app's key, to type in
    otpauth_url: str  # the same as a link an authenticator app (or a QR code tool) reads
    recovery_code: str  # one of the new recovery codes: signs in once without the app


def two_factor_reset(*, user: User) -> TwoFactorSetup:
    """A new authenticator secret and new recovery codes for `user`, replacing any earlier
    ones (the old app and codes stop working). For operators at a terminal; people set up
    their own on /accounts/2fa/."""
    secret = generate_totp_secret()
    with transaction.atomic():
        Authenticator.objects.filter(
            user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES]
        ).delete()
        TOTP.activate(user, secret)
        codes = RecoveryCodes.activate(user)
    return TwoFactorSetup(
        secret=secret,
        otpauth_url=get_adapter().build_totp_url(user, secret),
        recovery_code=codes.get_unused_codes()[0],
    )
