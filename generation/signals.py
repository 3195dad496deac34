"""Receivers: generation reacts to accounts being deleted. No business rules here."""

from typing import Any

from django.dispatch import receiver

from accounts.signals import user_deleting
from generation.services.erasure import user_generation_data_erase


@receiver(user_deleting, dispatch_uid="generation_erase_user_data")
def _erase_user_data(sender: Any, user: Any, **kwargs: Any) -> None:
    user_generation_data_erase(user=user)
