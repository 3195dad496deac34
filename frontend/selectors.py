"""Reads the web pages need that belong to no single app's API: a user's own rows, filtered
for a page. Every function takes the viewer and returns only what the viewer may see."""

import uuid

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from common.errors import NotFound
from generation.models import Generation, Image


def _live_images() -> QuerySet[Image]:
    return Image.objects.filter(deleted_at__isnull=True).order_by("index")


def generations_for_user(*, user: User, query: str = "") -> QuerySet[Generation]:
    """Newest first; `query` matches words of the prompt, case-insensitively."""
    generations = Generation.objects.filter(user=user).prefetch_related(
        Prefetch("images", queryset=_live_images(), to_attr="live_images")
    )
    for word in query.split()[:8]:
        generations = generations.filter(prompt__icontains=word)
    return generations.order_by("-created_at", "-pk")


def generation_get_for_owner(*, user: User, generation_id: uuid.UUID) -> Generation:
    generation = (
        Generation.objects.filter(pk=generation_id, user=user)
        .prefetch_related(Prefetch("images", queryset=_live_images(), to_attr="live_images"))
        .first()
    )
    if generation is None:
        raise NotFound("No such generation.")
    return generation


def image_get_for_owner(*, user: User, image_id: uuid.UUID) -> Image:
    """The user's own image, not deleted. Someone else's image is NotFound, never 403."""
    image = (
        Image.objects.select_related("generation")
        .filter(pk=image_id, generation__user=user, deleted_at__isnull=True)
        .first()
    )
    if image is None:
        raise NotFound("No such image.")
    return image


def recent_blocks(*, user: User, limit: int = 20) -> list:
    """The user's recent blocked requests and removed images they may appeal."""
    from moderation.models import Decision, Outcome

    return list(
        Decision.objects.filter(user=user, outcome=Outcome.BLOCK, overturned=False)
        .select_related("policy_version")
        .order_by("-created_at")[:limit]
    )


def webhook_deliveries_for_user(*, user: User) -> QuerySet:
    from generation.models import WebhookDelivery

    return (
        WebhookDelivery.objects.filter(endpoint__user=user)
        .select_related("endpoint")
        .order_by("-created_at")
    )
