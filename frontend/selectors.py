"""Reads the web pages need that belong to no single app's API: a user's own rows, filtered
for a page. Every function takes the viewer and returns only what the viewer may see."""

import datetime as dt
from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from generation.models import Generation, Image, WebhookDelivery
from generation.selectors.jobs import live_images
from moderation.models import Decision, Outcome
from moderation.selectors import output_blocked_image_ids


def generations_for_user(*, user: User, query: str = "") -> QuerySet[Generation]:
    """Newest first; `query` matches words of the prompt, case-insensitively."""
    generations = Generation.objects.filter(user=user).prefetch_related(
        Prefetch("images", queryset=live_images(), to_attr="live_images")
    )
    for word in query.split()[:8]:
        generations = generations.filter(prompt__icontains=word)
    return generations.order_by("-created_at", "-pk")


@dataclass(frozen=True)
class ProgressTile:
    """One place in a generation's gallery while it runs and after."""

    index: int
    state: str  # "delivered", "withheld", "removed" or "pending" (being made or checked)
    image: Image | None = None


def progress_tiles(*, generation: Generation) -> list[ProgressTile]:
    """A tile per requested image. An image row exists before its output is screened (the
    worker creates it, then asks moderation), so a row alone says nothing about policy: a tile
    is "withheld" only once moderation's verdict blocked it (or the generation is over and it
    was never delivered); until then it is "pending", like an image not yet painted."""
    images = {image.index: image for image in getattr(generation, "live_images", [])}
    undecided = [image.pk for image in images.values() if image.status == Image.Status.WITHHELD]
    blocked = set() if generation.is_final else output_blocked_image_ids(image_ids=undecided)
    tiles = []
    for index in range(generation.n):
        image = images.get(index)
        if image is None:
            if not generation.is_final:  # a finished job shows only the images it made
                tiles.append(ProgressTile(index=index, state="pending"))
        elif image.status == Image.Status.DELIVERED and image.storage_key:
            tiles.append(ProgressTile(index=index, state="delivered", image=image))
        elif image.status == Image.Status.REMOVED:
            tiles.append(ProgressTile(index=index, state="removed", image=image))
        elif generation.is_final or image.pk in blocked:
            tiles.append(ProgressTile(index=index, state="withheld", image=image))
        else:
            tiles.append(ProgressTile(index=index, state="pending", image=image))
    return tiles


def recent_blocks(*, user: User, limit: int = 20) -> list:
    """The user's recent blocked requests and removed images they may appeal."""
    return list(
        Decision.objects.filter(user=user, outcome=Outcome.BLOCK, overturned=False)
        .select_related("policy_version")
        .order_by("-created_at")[:limit]
    )


@dataclass(frozen=True)
class AppealOutcome:
    """One of the user's appeals and, once a reviewer overturned it, what was put right."""

    appeal: object
    state: str  # "waiting", "upheld" or "overturned"
    image: Image | None = None  # the image it concerned, delivered again
    refunded_credits: int = 0
    suspension_lifted: bool = False


def appeals_for_user(*, user: User, limit: int = 20) -> list[AppealOutcome]:
    """The user's appeals, newest first. For an overturned one: the image it gave back (a
    withheld image released, a removed one restored), the credits refunded for it, and whether
    a suspension was lifted between the appeal and its resolution (the moment an overturn lifts
    the suspension its strike caused)."""
    from billing.selectors import image_refunded
    from moderation.models import Appeal, Case, Suspension

    appeals = (
        Appeal.objects.filter(user=user)
        .select_related("case", "decision")
        .order_by("-created_at", "-pk")[:limit]
    )
    outcomes = []
    for appeal in appeals:
        case = appeal.case
        if case is None or case.state != Case.State.RESOLVED:
            outcomes.append(AppealOutcome(appeal=appeal, state="waiting"))
            continue
        if case.resolution != Case.Resolution.OVERTURNED:
            outcomes.append(AppealOutcome(appeal=appeal, state="upheld"))
            continue
        image_id = appeal.image_id or case.image_id or getattr(appeal.decision, "image_id", None)
        image = (
            live_images()
            .filter(pk=image_id, generation__user=user, status=Image.Status.DELIVERED)
            .exclude(storage_key="")
            .first()
            if image_id
            else None
        )
        resolved_at = case.resolved_at or appeal.created_at
        lifted = Suspension.objects.filter(
            user=user,
            lifted_at__gte=appeal.created_at,
            lifted_at__lte=resolved_at + dt.timedelta(minutes=1),
        ).exists()
        outcomes.append(
            AppealOutcome(
                appeal=appeal,
                state="overturned",
                image=image,
                refunded_credits=image_refunded(image_id=image_id) if image_id else 0,
                suspension_lifted=lifted,
            )
        )
    return outcomes


def webhook_deliveries_for_user(*, user: User) -> QuerySet:
    return (
        WebhookDelivery.objects.filter(endpoint__user=user)
        .select_related("endpoint")
        .order_by("-created_at")
    )
