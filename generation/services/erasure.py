"""What generation holds about a person, removed when they delete their account.

Called by the `accounts.signals.user_deleting` receiver, inside accounts' deletion
transaction: rows change there (so a failure rolls the whole deletion back) and files are
deleted only after it commits (so a rollback never leaves rows pointing at missing files).
The generation rows stay, emptied of the prompt and uploads, because ledger entries name them.
"""

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from generation.models import (
    Collection,
    Extension,
    Generation,
    IdempotencyRecord,
    Image,
    QuarantinedImage,
    Share,
    WebhookEndpoint,
)
from generation.services.cancels import cancel_flags_set
from generation.services.storage import storage_delete


def user_generation_data_erase(*, user: User) -> None:
    generations = Generation.objects.filter(user=user)
    now = timezone.now()
    # Queued jobs never start; a running one stops at its next step (the worker checks).
    generations.filter(status=Generation.Status.QUEUED).update(
        status=Generation.Status.CANCELED, finished_at=now
    )
    running = generations.filter(status=Generation.Status.RUNNING)
    running.update(cancel_requested=True)
    cancel_flags_set(generation_ids=running.values_list("pk", flat=True))

    images = Image.objects.filter(generation__user=user)
    keys = [key for key in images.values_list("storage_key", flat=True) if key]
    quarantined = QuarantinedImage.objects.filter(image__generation__user=user)
    keys += list(quarantined.values_list("storage_key", flat=True))  # withheld, taken down
    for job in generations.only("input_image_key", "input_mask_key", "input_reference_keys"):
        keys += job.input_keys
    keys += list(Extension.objects.filter(user=user).values_list("canvas_key", flat=True))

    Share.objects.filter(image__generation__user=user).delete()
    images.update(storage_key="", deleted_at=now)
    quarantined.filter(purged_at__isnull=True).update(purged_at=now, updated_at=now)
    generations.update(
        prompt="", end_user="", input_image_key="", input_mask_key="", input_reference_keys=[]
    )
    Extension.objects.filter(user=user).delete()
    Collection.objects.filter(user=user).delete()
    WebhookEndpoint.objects.filter(user=user).delete()
    IdempotencyRecord.objects.filter(user=user).delete()
    transaction.on_commit(lambda: _files_delete(keys=keys))


def _files_delete(*, keys: list[str]) -> None:
    for key in keys:
        storage_delete(key=key)  # skips empty keys and files already gone
