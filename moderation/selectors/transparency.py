"""Transparency figures, as OpenAI published for DALL-E 2: how many images were generated, the
share the automatic screening flagged, and the share of flags a reviewer confirmed; per week,
per policy version, per category (and per stage: prompts screened, outputs screened)."""

import datetime
from collections import defaultdict
from dataclasses import asdict, dataclass

from django.db.models import Count
from django.db.models.functions import TruncWeek

from moderation.models import Case, Decision, Outcome

ALL_CATEGORIES = "all"


@dataclass
class TransparencyRow:
    week: datetime.date  # the Monday the week starts on (UTC)
    policy_version: int
    stage: str  # "output": images generated; "prompt"/"upload": requests screened
    category: str  # a category, or "all": flagged by any category
    screened: int  # images generated (output stage) or requests screened (other stages)
    flagged: int  # blocked or sent to review by the automatic screening
    reviewed: int  # flags a person looked at (a resolved case, or an appeal overturned)
    confirmed: int  # flags the person upheld

    @property
    def flagged_share(self) -> float:
        return self.flagged / self.screened if self.screened else 0.0

    @property
    def confirmed_share(self) -> float | None:
        """None while no flag has been reviewed: unknown, not zero."""
        return self.confirmed / self.reviewed if self.reviewed else None

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "week": self.week.isoformat(),
            "flagged_share": round(self.flagged_share, 6),
            "confirmed_share": None
            if self.confirmed_share is None
            else round(self.confirmed_share, 6),
        }


def transparency_figures(*, since: datetime.date | datetime.datetime) -> list[TransparencyRow]:
    """Rows ordered by week, policy version, stage, then category ("all" first)."""
    since_moment = _start_of(since)
    decisions = Decision.objects.filter(created_at__gte=since_moment).annotate(
        week=TruncWeek("created_at")
    )
    screened: dict[tuple, int] = {
        (row["week"].date(), row["policy_version__version"], row["stage"]): row["n"]
        for row in decisions.values("week", "policy_version__version", "stage").annotate(
            n=Count("id")
        )
    }
    verdict_of_review = _reviewed_flags(since=since_moment)
    counts: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])  # flagged, reviewed, confirmed
    flagged = decisions.exclude(outcome=Outcome.ALLOW).values_list(
        "pk", "week", "policy_version__version", "stage", "categories", "overturned"
    )
    for pk, week, version, stage, categories, overturned in flagged.iterator():
        group = (week.date(), version, stage)
        reviewed, confirmed = _review_outcome(
            verdict=verdict_of_review.get(pk), overturned=overturned
        )
        for category in [ALL_CATEGORIES, *sorted(set(categories or []))]:
            tally = counts[(*group, category)]
            tally[0] += 1
            tally[1] += reviewed
            tally[2] += confirmed
    rows = [
        TransparencyRow(week, version, stage, category, screened[(week, version, stage)], *tally)
        for (week, version, stage, category), tally in counts.items()
    ]
    # Groups where nothing was flagged still report what was screened.
    for (week, version, stage), total in screened.items():
        if (week, version, stage, ALL_CATEGORIES) not in counts:
            rows.append(TransparencyRow(week, version, stage, ALL_CATEGORIES, total, 0, 0, 0))
    rows.sort(
        key=lambda r: (r.week, r.policy_version, r.stage, r.category != ALL_CATEGORIES, r.category)
    )
    return rows


def _start_of(since: datetime.date | datetime.datetime) -> datetime.datetime:
    if isinstance(since, datetime.datetime):
        return since if since.tzinfo else since.replace(tzinfo=datetime.UTC)
    return datetime.datetime.combine(since, datetime.time.min, tzinfo=datetime.UTC)


def _reviewed_flags(*, since: datetime.datetime) -> dict[int, str]:
    """decision id -> the resolution of the last resolved case about it."""
    resolved = (
        Case.objects.filter(state=Case.State.RESOLVED, decision__created_at__gte=since)
        .exclude(decision__outcome=Outcome.ALLOW)
        .order_by("resolved_at")
        .values_list("decision_id", "resolution")
    )
    return dict(resolved)


def _review_outcome(*, verdict: str | None, overturned: bool) -> tuple[int, int]:
    """(reviewed, confirmed) for one flag. An overturned decision was reviewed and not
    confirmed, whichever case overturned it."""
    if overturned:
        return 1, 0
    if verdict is None:
        return 0, 0
    return 1, int(verdict == Case.Resolution.UPHELD)


def transparency_table(rows: list[TransparencyRow]) -> str:
    """The figures as a plain text table, for `manage.py moderation report`."""
    header = f"{'week':<10}  {'policy':>6}  {'stage':<6}  {'category':<22}  {'screened':>8}  "
    header += f"{'flagged':>7}  {'flagged%':>8}  {'reviewed':>8}  {'confirmed%':>10}"
    lines = [header]
    for row in rows:
        confirmed = "-" if row.confirmed_share is None else f"{100 * row.confirmed_share:.1f}"
        lines.append(
            f"{row.week.isoformat():<10}  {'v' + str(row.policy_version):>6}  {row.stage:<6}  "
            f"{row.category:<22}  {row.screened:>8}  {row.flagged:>7}  "
            f"{100 * row.flagged_share:>8.2f}  {row.reviewed:>8}  {confirmed:>10}"
        )
    return "\n".join(lines)
