"""Strikes: blocked attempts, counted in a sliding window per account and per integrator end
user. Past a threshold the account (or only that end user) is suspended and a case opens."""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from moderation.models import Case, Decision, Strike, Suspension
from moderation.selectors import suspension_active
from moderation.services import enforcement
from moderation.services.cases import case_open


@dataclass(frozen=True)
class _Scope:
    """Whose strikes are counted, and who is suspended when there are too many."""

    end_user: str  # "" : the account
    only_own: bool  # count only the attempts made without an end user id
    threshold: int
    label: str


def strike_record(*, user: User, end_user: str = "", decision: Decision | None = None) -> Strike:
    """Count one blocked attempt; suspend and open a case when a threshold is passed.

    Idempotent on `decision` (a retried request records one strike). Safe under concurrency:
    the account row is locked, so two blocked attempts at once cannot both see the count below
    the threshold, nor both suspend.
    """
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        if decision is not None:
            existing = Strike.objects.filter(decision=decision).first()
            if existing is not None:
                return existing
        category = decision.categories[0] if decision is not None and decision.categories else ""
        strike = Strike.objects.create(
            user=user, end_user=end_user, decision=decision, category=category
        )
        for scope in _scopes(end_user=end_user):
            _suspend_if_over(user=user, scope=scope, strike=strike)
    return strike


def _scopes(*, end_user: str) -> list[_Scope]:
    account_wide = _Scope(
        end_user="",
        only_own=False,
        threshold=settings.MODERATION_STRIKES_PER_ACCOUNT,
        label="across all of the account's end users",
    )
    if end_user:
        # One bad end user is suspended alone; the account only when many of them misbehave
        # (or the integrator rotates end-user ids to dodge the count).
        own = _Scope(
            end_user=end_user,
            only_own=True,
            threshold=settings.MODERATION_STRIKES_PER_END_USER,
            label=f"by end user '{end_user}'",
        )
    else:
        own = _Scope(
            end_user="", only_own=True, threshold=settings.MODERATION_STRIKES_PER_USER, label=""
        )
    return [own, account_wide]


def strikes_in_window(
    *,
    user: User,
    end_user: str = "",
    only_own: bool = True,
    at: datetime.datetime | None = None,
) -> QuerySet[Strike]:
    """The strikes that count now (or, with `at`, counted at that moment): inside the window,
    after the scope's last suspension (a suspension uses up the strikes that caused it), not
    overturned on appeal."""
    window = datetime.timedelta(seconds=settings.MODERATION_STRIKE_WINDOW_SECONDS)
    since = (at or timezone.now()) - window
    earlier = Suspension.objects.filter(user=user, end_user=end_user)
    if at is not None:
        earlier = earlier.filter(created_at__lt=at)
    last_suspension = earlier.order_by("-created_at").values_list("created_at", flat=True).first()
    if last_suspension is not None and last_suspension > since:
        since = last_suspension
    strikes = Strike.objects.filter(user=user, created_at__gt=since).exclude(
        decision__overturned=True
    )
    if at is not None:
        strikes = strikes.filter(created_at__lte=at)
    if only_own:
        strikes = strikes.filter(end_user=end_user)
    return strikes


def _suspend_if_over(*, user: User, scope: _Scope, strike: Strike) -> Suspension | None:
    count = strikes_in_window(user=user, end_user=scope.end_user, only_own=scope.only_own).count()
    if count < scope.threshold:
        return None
    already = Suspension.objects.filter(user=user, end_user=scope.end_user, lifted_at__isnull=True)
    if (
        already.filter(ends_at__isnull=True).exists()
        or already.filter(ends_at__gt=timezone.now()).exists()
    ):
        return None
    hours = settings.MODERATION_STRIKE_WINDOW_SECONDS / 3600
    who = scope.label or "by the account"
    summary = f"{count} blocked attempts in {hours:g} hours {who}: suspended automatically."
    case = case_open(
        source=Case.Source.STRIKES,
        category=strike.category,
        decision=strike.decision,
        subject_user=user,
        summary=summary,
    )
    ends_at = timezone.now() + datetime.timedelta(
        seconds=settings.MODERATION_STRIKE_SUSPENSION_SECONDS
    )
    return enforcement.suspension_create(
        user=user, reason=summary, ends_at=ends_at, actor=None, end_user=scope.end_user, case=case
    )


def suspensions_lift_after_overturn(
    *, decision: Decision, actor: User, reason: str
) -> list[Suspension]:
    """A reviewer overturned a blocked decision, so its strike stops counting. Every automatic
    suspension that strike helped cause, and that the strikes left no longer justify, is lifted
    at once (a staff member's own suspension is a person's judgement and stays).

    Called inside the transaction that marked the decision overturned, so the recount sees it.
    """
    strike = Strike.objects.filter(decision=decision).first()
    if strike is None:
        return []
    window = datetime.timedelta(seconds=settings.MODERATION_STRIKE_WINDOW_SECONDS)
    now = timezone.now()
    caused = Suspension.objects.filter(
        Q(end_user="") | Q(end_user=strike.end_user),
        Q(ends_at__isnull=True) | Q(ends_at__gt=now),
        user_id=strike.user_id,
        lifted_at__isnull=True,
        created_by__isnull=True,
        case__source=Case.Source.STRIKES,
        created_at__gte=strike.created_at,
        created_at__lte=strike.created_at + window,
    )
    return [
        enforcement.suspension_lift(suspension_id=suspension.pk, actor=actor, reason=reason)
        for suspension in caused
        if not _still_justified(suspension=suspension)
    ]


def _still_justified(*, suspension: Suspension) -> bool:
    """Would the strikes that count now (overturned ones no longer do) have passed a threshold
    of this suspension's scope when it was made? An account-wide suspension has two scopes:
    the account's own attempts, and all of its end users' together."""
    scopes = [s for s in _scopes(end_user=suspension.end_user) if s.end_user == suspension.end_user]
    return any(
        strikes_in_window(
            user=suspension.user,
            end_user=scope.end_user,
            only_own=scope.only_own,
            at=suspension.created_at,
        ).count()
        >= scope.threshold
        for scope in scopes
    )


def strikes_left(*, user: User, end_user: str = "") -> int:
    """Blocked attempts the account (or this end user of it) may still make before the one
    that suspends it: the nearest threshold of the scopes `strike_record` counts in."""
    return min(
        scope.threshold
        - strikes_in_window(user=user, end_user=scope.end_user, only_own=scope.only_own).count()
        for scope in _scopes(end_user=end_user)
    )


def strike_warning(*, decision: Decision) -> str:
    """What a person whose request was blocked reads about strikes: how many blocked requests
    are left before a suspension, or the suspension this one caused. Empty when the decision
    recorded no strike (a review, a block that does not count)."""
    strike = Strike.objects.filter(decision=decision).select_related("user").first()
    if strike is None:
        return ""
    suspension = suspension_active(user=strike.user, end_user=strike.end_user)
    if suspension is not None:
        return enforcement.suspension_message(suspension)
    # At least one: a count at the threshold has already suspended (a lifted suspension
    # restarts the count), so "0 left" would only show in a race.
    left = max(strikes_left(user=strike.user, end_user=strike.end_user), 1)
    who = "this end user" if strike.end_user else "your account"
    window = _hours(settings.MODERATION_STRIKE_WINDOW_SECONDS)
    length = _hours(settings.MODERATION_STRIKE_SUSPENSION_SECONDS)
    requests = "request" if left == 1 else "requests"
    return (
        f"{left} more blocked {requests} within {window} will suspend {who} from generating "
        f"images for {length}."
    )


def _hours(seconds: int) -> str:
    hours = seconds / 3600
    return f"{hours:g} hour{'' if hours == 1 else 's'}"
