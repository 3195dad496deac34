"""Reads for the staff console pages. Staff see everything; these never write."""

import uuid
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import User
from common.errors import InvalidRequest, NotFound
from common.numbers import whole_number
from frontend.charts import bar_chart
from generation.models import Generation, Image
from generation.selectors.quarantine import quarantined_key_for_staff
from moderation.models import (
    AuditLogEntry,
    Case,
    Category,
    Outcome,
    PolicyVersion,
)


def image_for_staff(*, image_id: uuid.UUID) -> Image:
    image = Image.objects.select_related("generation").filter(pk=image_id).first()
    if image is None:
        raise NotFound("No such image.")
    return image


def image_file_key_for_staff(*, image: Image) -> str | None:
    """What a reviewer sees of an image: the delivered file, or the quarantined copy of a
    withheld or taken-down one while it is kept."""
    return image.storage_key or quarantined_key_for_staff(image=image)


def case_images(*, case: Case) -> list[Image]:
    """The image a case is about, or every image of its generation; each carries `staff_key`
    (image_file_key_for_staff) for the page."""
    if case.image_id:
        images = Image.objects.filter(pk=case.image_id)
    elif case.generation_id:
        images = Image.objects.filter(generation_id=case.generation_id)
    else:
        return []
    rows = list(images.select_related("generation"))
    for image in rows:
        image.staff_key = image_file_key_for_staff(image=image)  # type: ignore[attr-defined]
    return rows


def users_search(*, query: str) -> QuerySet[User]:
    users = User.objects.select_related("tier").order_by("-date_joined", "-pk")
    if query:
        condition = Q(email__icontains=query) | Q(display_name__icontains=query)
        user_id = whole_number(query, minimum=1, maximum=2**63 - 1)
        if user_id is not None:
            condition |= Q(pk=user_id)
        users = users.filter(condition)
    return users.annotate(strike_count=Count("strikes", distinct=True))


@dataclass(frozen=True)
class UserOverview:
    generations: list
    generation_count: int
    strikes: list
    suspensions: list
    cases: list


def user_overview(*, user: User) -> UserOverview:
    generations = Generation.objects.filter(user=user).order_by("-created_at")
    return UserOverview(
        generations=list(generations.prefetch_related("images")[:10]),
        generation_count=generations.count(),
        strikes=list(user.strikes.order_by("-created_at")[:20]),
        suspensions=list(user.suspensions.order_by("-created_at")[:20]),
        cases=list(Case.objects.filter(subject_user=user).order_by("-created_at")[:10]),
    )


def policy_versions() -> tuple[PolicyVersion, list[PolicyVersion]]:
    from moderation.policy import policy_current
    from moderation.selectors.console import policy_history

    return policy_current(), list(policy_history()[:50])


def policy_rows(*, current: PolicyVersion) -> list[dict]:
    return [
        {
            "category": category,
            "label": label,
            "action": current.rules.get(category, {}).get("action", Outcome.ALLOW),
            "threshold": current.rules.get(category, {}).get("threshold", 1.0),
        }
        for category, label in Category.choices
    ]


def rules_from_form(*, post, current: dict) -> dict:  # type: ignore[no-untyped-def]
    """The changes the form asks for: each category's action and threshold that differ from
    the current rule (policy_update merges them over the current version)."""
    changes: dict[str, dict] = {}
    for category in Category.values:
        label = Category(category).label
        action = post.get(f"{category}-action", "")
        if action not in Outcome.values:
            raise InvalidRequest(f"Choose an action for {label}.", param=category)
        try:
            threshold = float(post.get(f"{category}-threshold", ""))
        except ValueError:
            raise InvalidRequest(
                f"The threshold for {label} must be a number from 0 to 1.", param=category
            ) from None
        if not 0 <= threshold <= 1:
            raise InvalidRequest(f"The threshold for {label} must be from 0 to 1.", param=category)
        rule = current.get(category, {})
        change = {}
        if rule.get("action") != action:
            change["action"] = action
        if rule.get("threshold") != threshold:
            change["threshold"] = threshold
        if change:
            changes[category] = change
    return changes


def transparency_context(*, weeks: int) -> dict:
    """moderation's transparency report for the console: per week and per category, generated
    images and typed or uploaded requests counted apart, with charts of the images part."""
    from moderation.selectors.transparency import period_starts, transparency_report

    starts = period_starts(period="week", count=weeks, today=timezone.now().date())
    sections = transparency_report(starts=starts, period="week")
    images = next(section for section in sections if section.key == "images")
    return {
        "weeks": weeks,
        "sections": sections,
        "images_chart": bar_chart(
            [(line.start.strftime("%d %b"), [line.figures.screened]) for line in images.periods],
            label_every=2,
        ),
        "share_chart": bar_chart(
            [
                (
                    line.start.strftime("%d %b"),
                    [
                        line.figures.flagged_share * 100,
                        (line.figures.confirmed_share or 0) * 100,
                    ],
                )
                for line in images.periods
            ],
            label_every=2,
        ),
    }


def audit_actions() -> list[str]:
    return list(
        AuditLogEntry.objects.order_by("action").values_list("action", flat=True).distinct()
    )
