"""Reads for the review queue and the staff console."""

from django.db.models import QuerySet

from common.errors import InvalidRequest, NotFound
from moderation.models import Case, Category

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


# The console's other reads live in `console`; these two are also imported from here.
from moderation.selectors.console import audit_log, decisions_list  # noqa: E402

__all__ = ["UNRESOLVED", "audit_log", "case_get", "cases_queue", "decisions_list"]
