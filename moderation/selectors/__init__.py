"""Reads of the moderation app that other apps call; larger areas have their own modules."""

import uuid

from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from generation.models import Image  # a read across apps; generation owns the row
from moderation.models import Case, Decision, Outcome, Suspension


def suspension_active(*, user: User, end_user: str = "") -> Suspension | None:
    """The suspension that stops this account (or this end user of it) now, if any.

    A ban (no end) wins over a suspension; among suspensions, the one that ends last.
    """
    now = timezone.now()
    scope = Q(end_user="") | Q(end_user=end_user) if end_user else Q(end_user="")
    active = Suspension.objects.filter(scope, user=user, lifted_at__isnull=True).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=now)
    )
    # NULL (a ban) first, then the latest end.
    return active.order_by(F("ends_at").desc(nulls_first=True), "-created_at").first()


def image_shareable(*, image_id: uuid.UUID) -> bool:
    """False while a case that is not resolved, or a review decision not yet cleared by a
    reviewer, concerns the image (its own output decision or its generation's prompt)."""
    if Case.objects.filter(image_id=image_id).exclude(state=Case.State.RESOLVED).exists():
        return False
    concerns_image = Q(image_id=image_id)
    generation_id = _generation_id_of(image_id=image_id)
    if generation_id is not None:
        # A prompt or upload decision covers every image of its generation.
        concerns_image |= Q(generation_id=generation_id, image_id__isnull=True)
    return not Decision.objects.filter(
        concerns_image, outcome=Outcome.REVIEW, overturned=False
    ).exists()


def images_with_open_cases(*, image_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `image_ids` a case not yet resolved concerns (a reviewer may still need them)."""
    open_cases = Case.objects.filter(image_id__in=image_ids).exclude(state=Case.State.RESOLVED)
    return {image_id for image_id in open_cases.values_list("image_id", flat=True) if image_id}


def output_blocked_image_ids(*, image_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Of these images, those whose output screening has answered "block" (withheld)."""
    if not image_ids:
        return set()
    blocked = Decision.objects.filter(
        stage=Decision.Stage.OUTPUT, image_id__in=image_ids, outcome=Outcome.BLOCK
    ).values_list("image_id", flat=True)
    return {image_id for image_id in blocked if image_id is not None}


def _generation_id_of(*, image_id: uuid.UUID) -> uuid.UUID | None:

    return Image.objects.filter(pk=image_id).values_list("generation_id", flat=True).first()
