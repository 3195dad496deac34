"""Reads for the review queue and the staff console."""

from django.db.models import QuerySet

from common.errors import InvalidRequest, NotFound
from moderation.models import AuditLogEntry, Case, Category, Decision

UNRESOLVED = (Case.State.OPEN, Case.State.CLAIMED)


def cases_queue(
    *,
    states: list[str] | None = None,
    category: str = "",
    source: str = "",
    assignee_id: int | None = None,
) -> QuerySet[Case]:
    """The queue: highest priority first, then oldest first. Unresolved cases by default."""
    states = states or list(UNRESOLVED)
    for state in states:
        if state not in Case.State.values:
            raise InvalidRequest(f"Unknown case state '{state}'.", param="state")
    if category and category not in Category.values:
        raise InvalidRequest(f"Unknown category '{category}'.", param="category")
    if source and source not in Case.Source.values:
        raise InvalidRequest(f"Unknown case source '{source}'.", param="source")
    cases = Case.objects.filter(state__in=states).select_related(
        "assignee", "subject_user", "decision"
    )
    if category:
        cases = cases.filter(category=category)
    if source:
        cases = cases.filter(source=source)
    if assignee_id is not None:
        cases = cases.filter(assignee_id=assignee_id)
    return cases.order_by("-priority", "created_at", "pk")


def case_get(*, case_id: int) -> Case:
    case = (
        Case.objects.select_related("assignee", "subject_user", "decision", "resolved_by")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise NotFound("No such case.")
    return case


def decisions_list(
    *,
    stage: str = "",
    outcome: str = "",
    user_id: int | None = None,
    overturned: bool | None = None,
) -> QuerySet[Decision]:
    decisions = Decision.objects.select_related("policy_version", "matched_figure").order_by(
        "-created_at", "-pk"
    )
    if stage:
        if stage not in Decision.Stage.values:
            raise InvalidRequest(f"Unknown stage '{stage}'.", param="stage")
        decisions = decisions.filter(stage=stage)
    if outcome:
        decisions = decisions.filter(outcome=outcome)
    if user_id is not None:
        decisions = decisions.filter(user_id=user_id)
    if overturned is not None:
        decisions = decisions.filter(overturned=overturned)
    return decisions


def audit_log(
    *,
    actor_id: int | None = None,
    action: str = "",
    target_type: str = "",
    target_id: str = "",
    since: object = None,
    until: object = None,
) -> QuerySet[AuditLogEntry]:
    entries = AuditLogEntry.objects.select_related("actor").order_by("-created_at", "-pk")
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
        entries = entries.filter(created_at__lt=until)
    return entries
