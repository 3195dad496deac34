"""Reads for the staff console pages. Staff see everything; these never write."""

import datetime as dt
import uuid
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from accounts.models import User
from common.errors import InvalidRequest, NotFound
from frontend.charts import bar_chart
from generation.models import Generation, Image
from moderation.models import AuditLogEntry, Case, Category, Decision, Outcome, PolicyVersion, PublicFigure


def image_for_staff(*, image_id: uuid.UUID) -> Image:
    image = Image.objects.select_related("generation").filter(pk=image_id).first()
    if image is None:
        raise NotFound("No such image.")
    return image


def case_images(*, case: Case) -> list[Image]:
    """The image a case is about, or every image of its generation."""
    if case.image_id:
        return list(Image.objects.filter(pk=case.image_id).select_related("generation"))
    if case.generation_id:
        return list(Image.objects.filter(generation_id=case.generation_id).select_related("generation"))
    return []


def user_get(*, user_id: int) -> User:
    user = User.objects.select_related("tier").filter(pk=user_id).first()
    if user is None:
        raise NotFound("No such user.")
    return user


def users_search(*, query: str) -> QuerySet[User]:
    users = User.objects.select_related("tier").order_by("-date_joined", "-pk")
    if query:
        condition = Q(email__icontains=query) | Q(display_name__icontains=query)
        if query.isdigit():
            condition |= Q(pk=int(query))
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


def figures_search(*, query: str) -> QuerySet[PublicFigure]:
    figures = PublicFigure.objects.annotate(face_count=Count("faces")).order_by("name")
    if query:
        figures = figures.filter(Q(name__icontains=query) | Q(aliases__icontains=query))
    return figures


def policy_versions() -> tuple[PolicyVersion, list[PolicyVersion]]:
    from moderation.policy import policy_current

    return policy_current(), list(PolicyVersion.objects.select_related("created_by").order_by("-version")[:50])


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
    """The edited rules: each category's action and threshold from the form, other keys kept."""
    rules = {category: dict(rule) for category, rule in current.items()}
    for category in Category.values:
        action = post.get(f"{category}-action", "")
        threshold = post.get(f"{category}-threshold", "")
        if action not in Outcome.values:
            raise InvalidRequest(f"Choose an action for {Category(category).label}.", param=category)
        try:
            value = float(threshold)
        except ValueError:
            raise InvalidRequest(
                f"The threshold for {Category(category).label} must be a number from 0 to 1.", param=category
            ) from None
        if not 0 <= value <= 1:
            raise InvalidRequest(
                f"The threshold for {Category(category).label} must be from 0 to 1.", param=category
            )
        rules.setdefault(category, {}).update({"action": action, "threshold": value})
    return rules


def transparency_context(*, weeks: int) -> dict:
    """Per week: images generated, the share auto-flagged, the share of flags a reviewer
    confirmed; and per category over the period. The figures OpenAI published for DALL-E 2."""
    since = timezone.now() - dt.timedelta(weeks=weeks)
    generated = dict(
        Image.objects.filter(created_at__gte=since)
        .annotate(week=TruncWeek("created_at"))
        .values_list("week")
        .annotate(count=Count("id"))
        .values_list("week", "count")
    )
    flagged_decisions = Decision.objects.filter(
        created_at__gte=since, stage=Decision.Stage.OUTPUT, outcome__in=[Outcome.REVIEW, Outcome.BLOCK]
    )
    flagged = dict(
        flagged_decisions.annotate(week=TruncWeek("created_at"))
        .values_list("week")
        .annotate(count=Count("id"))
        .values_list("week", "count")
    )
    resolved = Case.objects.filter(created_at__gte=since, state=Case.State.RESOLVED).exclude(
        source__in=[Case.Source.APPEAL, Case.Source.REPORT]
    )
    confirmed = dict(
        resolved.filter(resolution=Case.Resolution.UPHELD)
        .annotate(week=TruncWeek("created_at"))
        .values_list("week")
        .annotate(count=Count("id"))
        .values_list("week", "count")
    )
    reviewed = dict(
        resolved.annotate(week=TruncWeek("created_at"))
        .values_list("week")
        .annotate(count=Count("id"))
        .values_list("week", "count")
    )
    rows = []
    start = (timezone.now() - dt.timedelta(weeks=weeks - 1)).date()
    start -= dt.timedelta(days=start.weekday())
    for index in range(weeks):
        day = start + dt.timedelta(weeks=index)
        key = next((week for week in set(generated) | set(flagged) | set(reviewed) if week.date() == day), None)
        images = generated.get(key, 0)
        flags = flagged.get(key, 0)
        rows.append(
            {
                "week": day,
                "images": images,
                "flagged": flags,
                "flagged_share": (flags / images) if images else 0.0,
                "confirmed_share": (confirmed.get(key, 0) / reviewed[key]) if reviewed.get(key) else 0.0,
            }
        )
    per_category = []
    for category, label in Category.choices:
        flags = flagged_decisions.filter(categories__contains=[category]).count() if _json_contains() else sum(
            1 for cats in flagged_decisions.values_list("categories", flat=True) if category in cats
        )
        category_cases = resolved.filter(category=category)
        total = category_cases.count()
        upheld = category_cases.filter(resolution=Case.Resolution.UPHELD).count()
        per_category.append({"label": label, "flagged": flags, "reviewed": total, "confirmed_share": upheld / total if total else 0.0})
    return {
        "weeks": weeks,
        "rows": rows,
        "per_category": per_category,
        "images_chart": bar_chart([(row["week"].strftime("%d %b"), [row["images"]]) for row in rows], label_every=2),
        "share_chart": bar_chart(
            [(row["week"].strftime("%d %b"), [row["flagged_share"] * 100, row["confirmed_share"] * 100]) for row in rows],
            label_every=2,
        ),
    }


def _json_contains() -> bool:
    """JSON containment queries exist on PostgreSQL only; elsewhere the count is done in Python."""
    from django.db import connection

    return connection.vendor == "postgresql"


def audit_actions() -> list[str]:
    return list(AuditLogEntry.objects.order_by("action").values_list("action", flat=True).distinct())
