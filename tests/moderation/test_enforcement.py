"""Suspensions, bans and warnings, and the check the generation path calls before anything."""

import datetime

import pytest
from django.utils import timezone

from common.errors import InvalidRequest, NotFound, PermissionDenied
from moderation.models import AuditLogEntry, Suspension
from moderation.selectors import suspension_active
from moderation.services.enforcement import (
    generation_permission_check,
    suspension_create,
    suspension_for_days,
    suspension_lift,
)
from tests.factories import UserFactory
from tests.moderation.process_helpers import make_staff

pytestmark = pytest.mark.django_db


def test_a_user_in_good_standing_may_generate():
    generation_permission_check(user=UserFactory(), end_user="anyone")


def test_a_suspension_stops_generation_until_it_ends():
    user, staff = UserFactory(), make_staff()
    suspension = suspension_for_days(user=user, days=3, reason="Repeated gore.", actor=staff)
    with pytest.raises(PermissionDenied) as error:
        generation_permission_check(user=user)
    body = error.value.as_body()["error"]
    assert body["code"] == "permission_denied" and error.value.status_code == 403
    assert suspension.ends_at.strftime("%Y-%m-%d") in body["message"]
    assert "gore" not in body["message"]  # the staff's reason is not shown
    # An account suspension stops every end user of the account too.
    with pytest.raises(PermissionDenied):
        generation_permission_check(user=user, end_user="someone")
    Suspension.objects.update(ends_at=timezone.now() - datetime.timedelta(seconds=1))
    generation_permission_check(user=user)


def test_a_ban_wins_over_a_suspension():
    user, staff = UserFactory(), make_staff()
    suspension_for_days(user=user, days=2, reason="First.", actor=staff)
    ban = suspension_for_days(user=user, days=None, reason="Then severe.", actor=staff)
    assert suspension_active(user=user) == ban
    with pytest.raises(PermissionDenied) as error:
        generation_permission_check(user=user)
    assert "banned" in error.value.message


def test_lifting_restores_generation_once_and_is_audited():
    user, staff = UserFactory(), make_staff()
    ban = suspension_for_days(user=user, days=None, reason="Mistake.", actor=staff)
    lifted = suspension_lift(suspension_id=ban.pk, actor=staff, reason="Wrong account.")
    assert lifted.lifted_at is not None
    generation_permission_check(user=user)
    again = suspension_lift(suspension_id=ban.pk, actor=staff, reason="Twice.")
    assert again.lifted_at == lifted.lifted_at
    assert AuditLogEntry.objects.filter(action="suspension.lift").count() == 1
    assert (
        AuditLogEntry.objects.filter(action="user.ban", actor=staff, reason="Mistake.").count() == 1
    )


def test_an_end_user_suspension_stops_only_that_end_user():
    user, staff = UserFactory(), make_staff()
    suspension_for_days(user=user, days=1, reason="Abuse.", actor=staff, end_user="u-42")
    with pytest.raises(PermissionDenied) as error:
        generation_permission_check(user=user, end_user="u-42")
    assert error.value.param == "user"
    generation_permission_check(user=user, end_user="u-43")
    generation_permission_check(user=user)


@pytest.mark.parametrize(
    ("days", "reason", "param"),
    [(0, "why", "days"), (3651, "why", "days"), (-1, "why", "days"), (3, "  ", "reason")],
)
def test_bad_suspensions_are_refused_and_change_nothing(days, reason, param):
    with pytest.raises(InvalidRequest) as error:
        suspension_for_days(user=UserFactory(), days=days, reason=reason, actor=make_staff())
    assert error.value.param == param
    assert not Suspension.objects.exists() and not AuditLogEntry.objects.exists()


def test_a_suspension_that_ends_in_the_past_is_refused():
    with pytest.raises(InvalidRequest):
        suspension_create(
            user=UserFactory(),
            reason="late",
            ends_at=timezone.now() - datetime.timedelta(hours=1),
            actor=make_staff(),
        )


def test_lifting_needs_a_real_suspension_and_a_reason():
    staff = make_staff()
    with pytest.raises(NotFound):
        suspension_lift(suspension_id=999999, actor=staff, reason="x")
    ban = suspension_for_days(user=UserFactory(), days=None, reason="r", actor=staff)
    with pytest.raises(InvalidRequest):
        suspension_lift(suspension_id=ban.pk, actor=staff, reason=" ")
    ban.refresh_from_db()
    assert ban.lifted_at is None
