"""allauth hooks: new sign-ups start on the default tier."""

from allauth.account.adapter import DefaultAccountAdapter

from accounts.models import DEFAULT_TIER_NAME, Tier, User


class AccountAdapter(DefaultAccountAdapter):
    def new_user(self, request) -> User:  # type: ignore[no-untyped-def]
        user = super().new_user(request)
        user.tier = Tier.objects.get(name=DEFAULT_TIER_NAME)
        return user
