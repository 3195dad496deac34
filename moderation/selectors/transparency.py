"""Transparency figures, as OpenAI published for DALL-E 2: how many images were generated, the
share the automatic screening flagged, and the share of flags a reviewer confirmed; per week
(or month), per policy version, per category (and per stage: prompts screened, outputs
screened). `transparency_report` shapes them for the staff console and the public page, so
both count the same way."""

import datetime
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace

from django.db.models import Count
from django.db.models.functions import TruncMonth, TruncWeek

from moderation.models import Case, Category, Decision, Outcome

ALL_CATEGORIES = "all"


PERIODS = {"week": TruncWeek, "month": TruncMonth}


@dataclass
class TransparencyRow:
    start: datetime.date  # the first day of the period: a Monday, or the 1st of a month (UTC)
    policy_version: int
    stage: str  # "output": images generated; "prompt"/"upload": requests screened
    category: str  # a category, or "all": flagged by any category
    screened: int  # images generated (output stage) or requests screened (other stages)
    flagged: int  # blocked or sent to review by the automatic screening
    reviewed: int  # flags a person looked at (a resolved case, or an appeal overturned)
    confirmed: int  # flags the person upheld
    period: str = "week"

    @property
    def week(self) -> datetime.date:
        """The start of the period (the name the staff API and the report command use)."""
        return self.start

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
            "start": self.start.isoformat(),
            "week": self.start.isoformat(),
            "flagged_share": round(self.flagged_share, 6),
            "confirmed_share": None
            if self.confirmed_share is None
            else round(self.confirmed_share, 6),
        }


def transparency_figures(
    *, since: datetime.date | datetime.datetime, period: str = "week"
) -> list[TransparencyRow]:
    """Rows ordered by period, policy version, stage, then category ("all" first). `period`
    is "week" (weeks start on Monday) or "month"."""
    since_moment = _start_of(since)
    decisions = Decision.objects.filter(created_at__gte=since_moment).annotate(
        week=PERIODS[period]("created_at")
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
        TransparencyRow(
            start=week,
            policy_version=version,
            stage=stage,
            category=category,
            screened=screened[(week, version, stage)],
            flagged=flagged,
            reviewed=reviewed,
            confirmed=confirmed,
            period=period,
        )
        for (week, version, stage, category), (flagged, reviewed, confirmed) in counts.items()
    ]
    # Groups where nothing was flagged still report what was screened.
    for (week, version, stage), total in screened.items():
        if (week, version, stage, ALL_CATEGORIES) not in counts:
            rows.append(
                TransparencyRow(week, version, stage, ALL_CATEGORIES, total, 0, 0, 0, period)
            )
    rows.sort(
        key=lambda r: (r.start, r.policy_version, r.stage, r.category != ALL_CATEGORIES, r.category)
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
            f"{row.start.isoformat():<10}  {'v' + str(row.policy_version):>6}  {row.stage:<6}  "
            f"{row.category:<22}  {row.screened:>8}  {row.flagged:>7}  "
            f"{100 * row.flagged_share:>8.2f}  {row.reviewed:>8}  {confirmed:>10}"
        )
    return "\n".join(lines)


# --- the report the pages show ----------------------------------------------------------------

# What each part of the report counts: images generated (every output is screened), and the
# requests people typed or uploaded. A flag is counted in the part its stage belongs to, in
# the period table and in the category table alike.
SECTIONS = {
    "images": ("Generated images", ("output",)),
    "requests": ("Prompts and uploads", ("prompt", "upload")),
}


@dataclass(frozen=True)
class Figures:
    screened: int = 0
    flagged: int = 0
    reviewed: int = 0
    confirmed: int = 0

    def __add__(self, other: "Figures") -> "Figures":
        return Figures(
            self.screened + other.screened,
            self.flagged + other.flagged,
            self.reviewed + other.reviewed,
            self.confirmed + other.confirmed,
        )

    @property
    def flagged_share(self) -> float:
        return self.flagged / self.screened if self.screened else 0.0

    @property
    def confirmed_share(self) -> float | None:
        """None while no flag has been reviewed: unknown, not zero."""
        return self.confirmed / self.reviewed if self.reviewed else None


@dataclass(frozen=True)
class PeriodLine:
    start: datetime.date
    figures: Figures


@dataclass(frozen=True)
class CategoryLine:
    category: str
    label: str
    figures: Figures  # `screened` is everything the section screened in the range


@dataclass(frozen=True)
class TransparencySection:
    key: str  # "images" or "requests"
    label: str
    periods: list[PeriodLine]
    categories: list[CategoryLine] = field(default_factory=list)

    @property
    def total(self) -> Figures:
        total = Figures()
        for line in self.periods:
            total = total + line.figures
        return total


def period_starts(*, period: str, count: int, today: datetime.date) -> list[datetime.date]:
    """The first days of the last `count` weeks (Mondays) or months, oldest first."""
    if period == "week":
        monday = today - datetime.timedelta(days=today.weekday())
        return [monday - datetime.timedelta(weeks=back) for back in range(count - 1, -1, -1)]
    starts = []
    year, month = today.year, today.month
    for _ in range(count):
        starts.append(datetime.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def transparency_report(*, starts: list[datetime.date], period: str) -> list[TransparencySection]:
    """The figures from `starts[0]` on, per section: a line for every period in `starts`
    (zeros where nothing happened) and one per category over the whole range."""

    rows = transparency_figures(since=starts[0], period=period) if starts else []
    labels = dict(Category.choices)
    sections = []
    for key, (label, stages) in SECTIONS.items():
        by_period: dict[datetime.date, Figures] = defaultdict(Figures)
        by_category: dict[str, Figures] = defaultdict(Figures)
        for row in rows:
            if row.stage not in stages:
                continue
            figures = Figures(row.screened, row.flagged, row.reviewed, row.confirmed)
            if row.category == ALL_CATEGORIES:
                by_period[row.start] += figures
            else:
                by_category[row.category] += replace(figures, screened=0)
        screened = sum(figures.screened for figures in by_period.values())
        sections.append(
            TransparencySection(
                key=key,
                label=label,
                periods=[PeriodLine(start, by_period.get(start, Figures())) for start in starts],
                categories=[
                    CategoryLine(
                        category,
                        labels.get(category, category),
                        replace(figures, screened=screened),
                    )
                    for category, figures in sorted(by_category.items())
                ],
            )
        )
    return sections
