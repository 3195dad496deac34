"""Reads for the staff console pages. Staff see everything; these never write."""

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

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
    """moderation's transparency figures shaped for the page: per week, images generated (the
    output stage), the share flagged and the share of reviewed flags confirmed; and per
    category over the whole period, for every stage."""
    from moderation.selectors.transparency import ALL_CATEGORIES, transparency_figures

    since = (timezone.now() - dt.timedelta(weeks=weeks)).date()
    rows = transparency_figures(since=since)
    by_week: dict[dt.date, list[int]] = {}
    for row in rows:
        if row.stage == "output" and row.category == ALL_CATEGORIES:
            tally = by_week.setdefault(row.week, [0, 0, 0, 0])
            for index, value in enumerate((row.screened, row.flagged, row.reviewed, row.confirmed)):
                tally[index] += value
    # Every week of the period is a row, with zeros where nothing happened, so the charts'
    # bars keep one width and a quiet week shows as a gap rather than disappearing.
    this_monday = timezone.now().date() - dt.timedelta(days=timezone.now().weekday())
    mondays = [this_monday - dt.timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    weekly: list[dict[str, Any]] = []
    for week in mondays:
        images, flagged, reviewed, confirmed = by_week.get(week, (0, 0, 0, 0))
        weekly.append(
            {
                "week": week,
                "images": images,
                "flagged_share": flagged / images if images else 0.0,
                "confirmed_share": confirmed / reviewed if reviewed else None,
            }
        )
    per_category: dict[str, list[int]] = {}
    for row in rows:
        if row.category != ALL_CATEGORIES:
            tally = per_category.setdefault(row.category, [0, 0, 0])
            tally[0] += row.flagged
            tally[1] += row.reviewed
            tally[2] += row.confirmed
    labels = dict(Category.choices)
    categories = [
        {
            "label": labels.get(category, category),
            "flagged": flagged,
            "reviewed": reviewed,
            "confirmed_share": confirmed / reviewed if reviewed else None,
        }
        for category, (flagged, reviewed, confirmed) in sorted(per_category.items())
    ]
    return {
        "weeks": weeks,
        "any_images": any(row["images"] for row in weekly),
        "any_flags": any(row["flagged_share"] for row in weekly),
        "rows": weekly,
        "per_category": categories,
        "images_chart": bar_chart(
            [(row["week"].strftime("%d %b"), [row["images"]]) for row in weekly], label_every=2
        ),
        "share_chart": bar_chart(
            [
                (
                    row["week"].strftime("%d %b"),
                    [row["flagged_share"] * 100, (row["confirmed_share"] or 0) * 100],
                )
                for row in weekly
            ],
            label_every=2,
        ),
    }


def audit_actions() -> list[str]:
    return list(
        AuditLogEntry.objects.order_by("action").values_list("action", flat=True).distinct()
    )
