"""Who may generate: suspensions (for a period), bans (no end), warnings, and the check that the
generation path calls before it screens or reserves anything."""

import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from common.errors import InvalidRequest, NotFound, PermissionDenied
from common.site import site_url
from moderation.models import Case, Suspension
from moderation.selectors import suspension_active
from moderation.services.audit import audit_record

MAX_SUSPENSION_DAYS = 3650


def generation_permission_check(*, user: User, end_user: str = "") -> None:
    """Raise PermissionDenied (403) while the account, or this end user of it, may not generate.

    An end user's suspension stops only that end user: the integrator's other end users go on.
    """
    suspension = suspension_active(user=user, end_user=end_user)
    if suspension is None:
        return
    raise PermissionDenied(
        suspension_message(suspension), param="user" if suspension.end_user else None
    )


def suspension_message(suspension: Suspension) -> str:
    """The suspension in plain words: who, until when, and where to ask for a review. Never the
    staff's note: this is what the person (or the integrator, for an end user) reads."""
    appeals = site_url(reverse("frontend:appeals"))
    appeal = f" If you think this is a mistake, ask for a review at {appeals}."
    if suspension.end_user:
        who = "This end user (the `user` parameter of your request) is"
        after = " Your account's other end users are not affected."
    else:
        who = "Your account is"
        after = ""
    if suspension.ends_at is None:
        return (
            f"{who} banned from generating images for violating Easel's content policy."
            f"{after}{appeal}"
        )
    until = suspension.ends_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{who} suspended from generating images until {until} after repeated requests that "
        f"Easel's content policy does not allow.{after}{appeal}"
    )


def suspension_create(
    *,
    user: User,
    reason: str,
    ends_at: datetime.datetime | None,
    actor: User | None,
    end_user: str = "",
    case: Case | None = None,
) -> Suspension:
    """Suspend the account (or one end user of it) until `ends_at`; `ends_at=None` is a ban.

    `actor=None` means the strike system did it; the audit log records both kinds.
    """
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("A reason is required.", param="reason")
    if ends_at is not None and ends_at <= timezone.now():
        raise InvalidRequest("A suspension must end in the future.", param="days")
    with transaction.atomic():
        suspension = Suspension.objects.create(
            user=user,
            end_user=end_user,
            reason=reason,
            ends_at=ends_at,
            created_by=actor,
            case=case,
        )
        audit_record(
            actor=actor,
            action="user.ban" if ends_at is None else "user.suspend",
            target_type="user",
            target_id=user.pk,
            reason=reason,
            details={
                "suspension_id": suspension.pk,
                "end_user": end_user,
                "ends_at": ends_at.isoformat() if ends_at else None,
                "case_id": case.pk if case else None,
            },
        )
    return suspension


def suspension_for_days(
    *,
    user: User,
    days: int | None,
    reason: str,
    actor: User | None,
    end_user: str = "",
    case: Case | None = None,
) -> Suspension:
    """`days=None` bans; otherwise suspends for that many days (1 to MAX_SUSPENSION_DAYS)."""
    if days is not None and not (1 <= days <= MAX_SUSPENSION_DAYS):
        raise InvalidRequest(f"'days' must be between 1 and {MAX_SUSPENSION_DAYS}.", param="days")
    ends_at = None if days is None else timezone.now() + datetime.timedelta(days=days)
    return suspension_create(
        user=user, reason=reason, ends_at=ends_at, actor=actor, end_user=end_user, case=case
    )


def suspension_lift(*, suspension_id: int, actor: User, reason: str) -> Suspension:
    """End a suspension or ban now. Idempotent: lifting a lifted suspension changes nothing."""
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("A reason is required.", param="reason")
    with transaction.atomic():
        suspension = Suspension.objects.select_for_update().filter(pk=suspension_id).first()
        if suspension is None:
            raise NotFound("No such suspension.")
        if suspension.lifted_at is not None:
            return suspension
        suspension.lifted_at = timezone.now()
        suspension.save(update_fields=["lifted_at", "updated_at"])
        audit_record(
            actor=actor,
            action="suspension.lift",
            target_type="user",
            target_id=suspension.user_id,
            reason=reason,
            details={"suspension_id": suspension.pk, "end_user": suspension.end_user},
        )
    return suspension


def suspensions_lift_for_case(*, case: Case, actor: User, reason: str) -> list[Suspension]:
    """Lift every suspension a case caused (a strikes case overturned by a reviewer)."""
    ids = list(
        Suspension.objects.filter(case=case, lifted_at__isnull=True).values_list("pk", flat=True)
    )
    return [suspension_lift(suspension_id=pk, actor=actor, reason=reason) for pk in ids]


def suspension_lifted_notify(*, user: User, suspensions: list[Suspension]) -> None:
    """Tell the person, once the lift is committed, that a suspension ended early because a
    reviewer found the decision behind it wrong. (An appeal's own e-mail says it instead.)"""
    if not suspensions or not user.email or user.deleted_at is not None:
        return
    email = user.email
    sentence = suspension_lift_sentence(suspensions=suspensions)
    transaction.on_commit(
        lambda: send_mail(
            subject="Your Easel suspension has been lifted",
            message=(
                "A member of Easel's trust and safety team looked again at the blocked "
                f"requests behind a suspension and found that they should not have counted. "
                f"{sentence}\n"
            ),
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[email],
            fail_silently=True,
        )
    )


def suspension_lift_sentence(*, suspensions: list[Suspension]) -> str:
    """One sentence for an e-mail about suspensions a review just lifted."""
    return f"{_lifted_whom(suspensions)} lifted now: you can generate images again."


def _lifted_whom(suspensions: list[Suspension]) -> str:
    end_users = sorted({s.end_user for s in suspensions if s.end_user})
    if any(not s.end_user for s in suspensions):
        return "The suspension of your account was"
    names = ", ".join(f"'{name}'" for name in end_users)
    plural = "s" if len(end_users) > 1 else ""
    return f"The suspension of your end user{plural} {names} was"


def user_warn(*, user: User, actor: User, reason: str, case: Case | None = None) -> None:
    """A formal warning: recorded, and e-mailed to the user after the transaction commits.

    The e-mail does not quote `reason`: it is the staff's note and may name what was matched."""
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("A reason is required.", param="reason")
    audit_record(
        actor=actor,
        action="user.warn",
        target_type="user",
        target_id=user.pk,
        reason=reason,
        details={"case_id": case.pk if case else None},
    )
    if user.email and user.deleted_at is None:
        transaction.on_commit(lambda: _send_warning(email=user.email))


def _send_warning(*, email: str) -> None:
    send_mail(
        subject="A warning about your use of Easel",
        message=(
            "A member of Easel's trust and safety team reviewed activity on your account and "
            "found it against Easel's content policy.\n\n"
            "Further violations can lead to a suspension. If you think this is a mistake, "
            "reply to this e-mail.\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[email],
        fail_silently=True,
    )
