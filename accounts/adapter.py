"""allauth hooks: new sign-ups start on the default tier; e-mails name Easel's own address."""

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter

from accounts.models import DEFAULT_TIER_NAME, Tier, User
from common.site import site_url


class AccountAdapter(DefaultAccountAdapter):
    def new_user(self, request) -> User:  # type: ignore[no-untyped-def]
        user = super().new_user(request)
        user.tier = Tier.objects.get(name=DEFAULT_TIER_NAME)
        return user

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        # Easel's templates (frontend/templates/account/email/) sign off with the public address.
        super().send_mail(template_prefix, email, {**context, "site_url": site_url()})
