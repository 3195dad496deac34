"""Reports: anyone, logged in or not, reports a shared image; reports of one image gather in
one case, which climbs the queue with each new report."""

import uuid

from django.db import transaction

from accounts.models import User
from common.errors import InvalidRequest, NotFound
from common.locks import advisory_lock
from generation.models import Image  # a read across apps; generation owns the rows
from moderation.models import Case, Category, Report
from moderation.services.cases import case_open, case_raise_priority

REPORT_DETAILS_MAX = 2000


def report_create(
    *, image_id: uuid.UUID, reporter: User | None, reason: str, details: str = ""
) -> Report:
    """Record a report and queue it. The same person reporting the same image again changes
    nothing (their first report is returned); another person's report raises the priority."""
    details = (details or "").strip()
    if reason not in Category.values:
        raise InvalidRequest(
            f"'reason' must be one of: {', '.join(Category.values)}.", param="reason"
        )
    if len(details) > REPORT_DETAILS_MAX:
        raise InvalidRequest(
            f"Keep the details under {REPORT_DETAILS_MAX} characters.", param="details"
        )
    owner_id, generation_id = _shared_image(image_id=image_id)
    with transaction.atomic():
        advisory_lock(key=f"report:{image_id}")
        if reporter is not None:
            earlier = Report.objects.filter(image_id=image_id, reporter=reporter).first()
            if earlier is not None:
                return earlier
        case = case_open(
            source=Case.Source.REPORT,
            category=reason,
            image_id=image_id,
            generation_id=generation_id,
            subject_user=User.objects.filter(pk=owner_id).first(),
            summary="Reported by a visitor of the shared page.",
        )
        if case.reports.exists():
            case_raise_priority(case=case)
        return Report.objects.create(
            image_id=image_id, reporter=reporter, reason=reason, details=details, case=case
        )


def _shared_image(*, image_id: uuid.UUID) -> tuple[int, uuid.UUID]:
    """(owner id, generation id) of a publicly shared image; NotFound for anything else, so
    reports cannot probe which private images exist."""

    found = (
        Image.objects.filter(pk=image_id, share__is_active=True, status=Image.Status.DELIVERED)
        .values_list("generation__user_id", "generation_id")
        .first()
    )
    if found is None:
        raise NotFound("No shared image with this id.", param="image_id")
    return found
