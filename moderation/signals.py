"""Receivers: moderation reacts to accounts being deleted, and preloads its models in each
Celery worker child. No business rules here."""

from typing import Any

from celery.signals import worker_process_init
from django.dispatch import receiver

from accounts.signals import user_deleting
from moderation.services.erasure import user_moderation_data_erase
from moderation.services.image_screening import image_screen_preload
from moderation.services.screening import prompt_screen_preload


@receiver(user_deleting, dispatch_uid="moderation_erase_user_data")
def _erase_user_data(sender: Any, user: Any, **kwargs: Any) -> None:
    user_moderation_data_erase(user=user)


@worker_process_init.connect(dispatch_uid="moderation_preload_in_worker_child")
def _preload_in_worker_child(**kwargs: Any) -> None:
    # A thread, so this returns at once: Celery kills init handlers that take over 4 s.

    prompt_screen_preload()
    image_screen_preload()
