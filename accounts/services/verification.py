"""Sending the e-mail confirmation link again, for someone who signed up and lost it."""

from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.http import HttpRequest

# One new link per address per this many seconds: a form anyone can post must not become a
# way to flood someone's inbox.
RESEND_INTERVAL_SECONDS = 120


def email_verification_resend(*, request: HttpRequest, email: str) -> bool:
    """Send a new confirmation link when `email` is an address waiting to be confirmed.

    The caller tells everyone the same thing whatever this returns, so the form does not
    reveal which addresses have accounts; True means a link was sent.
    """
    address = (
        EmailAddress.objects.filter(email__iexact=email.strip(), verified=False)
        .select_related("user")
        .first()
    )
    if address is None:
        return False
    if not cache.add(f"verification-resend:{address.pk}", 1, timeout=RESEND_INTERVAL_SECONDS):
        return False
    address.send_confirmation(request, signup=False)
    return True
