"""What a customer (or an integrator, per end user) may read of their own moderation record:
the requests that were blocked, and the suspensions in force. Never scores, never the words or
the name that fired: those are for staff."""

import uuid

from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from moderation.models import Decision, Outcome, Suspension


def decisions_blocked_for_user(*, user: User, end_user: str | None = None) -> QuerySet[Decision]:
    """The account's blocked decisions, newest first; only one end user's when `end_user` is
    given ("" means the requests made without an end user id)."""
    decisions = Decision.objects.filter(user=user, outcome=Outcome.BLOCK)
    if end_user is not None:
        decisions = decisions.filter(end_user=end_user)
    return decisions.prefetch_related("appeals__case").order_by("-created_at", "-pk")


def decision_block_for_generation(*, generation_id: uuid.UUID) -> Decision | None:
    """The first decision that blocked this generation or one of its images (what an error
    about the whole generation points to)."""
    return (
        Decision.objects.filter(generation_id=generation_id, outcome=Outcome.BLOCK)
        .order_by("created_at", "pk")
        .first()
    )


def suspensions_active_for_user(*, user: User, end_user: str | None = None) -> QuerySet[Suspension]:
    """Suspensions and bans in force on the account or on its end users, newest first."""
    suspensions = Suspension.objects.filter(user=user, lifted_at__isnull=True).filter(
        Q(ends_at__isnull=True) | Q(ends_at__gt=timezone.now())
    )
    if end_user is not None:
        suspensions = suspensions.filter(end_user=end_user)
    return suspensions.order_by("-created_at", "-pk")
