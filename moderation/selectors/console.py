"""Reads for the staff console: decisions, a user's standing, the registry, the policy, and
the audit log."""

import datetime

from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import User
from common.errors import InvalidRequest, NotFound
from moderation.models import (
    AuditLogEntry,
    Case,
    Decision,
    Outcome,
    PolicyVersion,
    PublicFigure,
    Strike,
    Suspension,
)
from moderation.selectors import suspension_active
from moderation.services.strikes import strikes_in_window


def decisions_list(
    *,
    stage: str = "",
    outcome: str = "",
    category: str = "",
    user_id: int | None = None,
    overturned: bool | None = None,
) -> QuerySet[Decision]:
    decisions = Decision.objects.select_related("policy_version", "matched_figure")
    if stage:
        if stage not in Decision.Stage.values:
            raise InvalidRequest(f"Unknown stage '{stage}'.", param="stage")
        decisions = decisions.filter(stage=stage)
    if outcome:
        if outcome not in Outcome.values:
            raise InvalidRequest(f"Unknown outcome '{outcome}'.", param="outcome")
        decisions = decisions.filter(outcome=outcome)
    if category:
        # Categories are a JSON list; matching its text with the quotes works on every database.
        decisions = decisions.annotate(categories_text=Cast("categories", TextField())).filter(
            categories_text__contains=f'"{category}"'
        )
    if user_id is not None:
        decisions = decisions.filter(user_id=user_id)
    if overturned is not None:
        decisions = decisions.filter(overturned=overturned)
    return decisions.order_by("-created_at", "-pk")


def decision_get(*, decision_id: int) -> Decision:
    decision = decisions_list().filter(pk=decision_id).first()
    if decision is None:
        raise NotFound("No such decision.")
    return decision


def user_get(*, user_id: int) -> User:
    user = User.objects.select_related("tier").filter(pk=user_id).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def user_standing(*, user: User) -> dict:
    """What a reviewer needs about an account: strikes in the window (own and per end user),
    the suspension in force, and how many cases concern it."""

    end_users = (
        Strike.objects.filter(user=user)
        .exclude(end_user="")
        .values_list("end_user", flat=True)
        .distinct()
    )
    per_end_user = {
        end_user: count
        for end_user in end_users
        if (count := strikes_in_window(user=user, end_user=end_user).count())
    }
    return {
        "strikes_in_window": strikes_in_window(user=user).count(),
        "strikes_in_window_all_end_users": strikes_in_window(user=user, only_own=False).count(),
        "strikes_in_window_per_end_user": per_end_user,
        "strikes_total": Strike.objects.filter(user=user).count(),
        "active_suspension": suspension_active(user=user),
        "open_cases": Case.objects.filter(subject_user=user)
        .exclude(state=Case.State.RESOLVED)
        .count(),
    }


def strikes_for_user(*, user: User) -> QuerySet[Strike]:
    return Strike.objects.filter(user=user).order_by("-created_at", "-pk")


def suspensions_for_user(*, user: User) -> QuerySet[Suspension]:
    return Suspension.objects.filter(user=user).select_related("created_by").order_by("-created_at")


def figures_search(*, query: str = "") -> QuerySet[PublicFigure]:
    figures = PublicFigure.objects.annotate(face_count=Count("faces"))
    query = query.strip()
    if query:
        figures = figures.annotate(aliases_text=Cast("aliases", TextField())).filter(
            Q(name__icontains=query) | Q(aliases_text__icontains=query)
        )
    return figures.order_by("name")


def policy_history() -> QuerySet[PolicyVersion]:
    return PolicyVersion.objects.select_related("created_by").order_by("-version")


def audit_log(
    *,
    actor_id: int | None = None,
    action: str = "",
    target_type: str = "",
    target_id: str = "",
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> QuerySet[AuditLogEntry]:
    entries = AuditLogEntry.objects.select_related("actor")
    if actor_id is not None:
        entries = entries.filter(actor_id=actor_id)
    if action:
        entries = entries.filter(action=action)
    if target_type:
        entries = entries.filter(target_type=target_type)
    if target_id:
        entries = entries.filter(target_id=target_id)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until or timezone.now())
    return entries.order_by("-created_at", "-pk")
