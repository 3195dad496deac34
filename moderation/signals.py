"""Receivers: moderation reacts to accounts being deleted. No business rules here."""

from typing import Any

from django.dispatch import receiver

from accounts.signals import user_deleting
from moderation.services.erasure import user_moderation_data_erase


@receiver(user_deleting, dispatch_uid="moderation_erase_user_data")
def _erase_user_data(sender: Any, user: Any, **kwargs: Any) -> None:
    user_moderation_data_erase(user=user)
