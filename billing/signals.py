"""Receivers: billing reacts to users being created and deleted. No business rules here."""

from typing import Any

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.signals import user_deleting
from billing.services.credits import wallet_close_for_deleted_user, wallet_get_or_create


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="billing_wallet_for_new_user")
def _wallet_for_new_user(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    # A new user gets a wallet and the sign-up grant in the transaction that creates them.
    if created and not raw:
        wallet_get_or_create(user=instance)


@receiver(user_deleting, dispatch_uid="billing_close_wallet")
def _close_wallet(sender: Any, user: Any, **kwargs: Any) -> None:
    wallet_close_for_deleted_user(user=user)
