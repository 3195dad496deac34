"""Strikes: blocked attempts in a sliding window, per account and per integrator end user."""

import datetime

import pytest
from django.utils import timezone

from common.errors import PermissionDenied
from moderation.models import AuditLogEntry, Case, Decision, Strike, Suspension
from moderation.services.enforcement import generation_permission_check
from moderation.services.strikes import strike_record, strikes_in_window
from tests.concurrency import run_concurrently
from tests.factories import UserFactory
from tests.moderation.process_helpers import make_decision

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _thresholds(settings):  # type: ignore[no-untyped-def]
    settings.MODERATION_STRIKE_WINDOW_SECONDS = 3600
    settings.MODERATION_STRIKES_PER_USER = 3
    settings.MODERATION_STRIKES_PER_END_USER = 3
    settings.MODERATION_STRIKES_PER_ACCOUNT = 7
    settings.MODERATION_STRIKE_SUSPENSION_SECONDS = 24 * 3600


def _strike(user, end_user=""):  # type: ignore[no-untyped-def]
    return strike_record(
        user=user, end_user=end_user, decision=make_decision(user=user, end_user=end_user)
    )


def test_below_the_threshold_nothing_happens():
    user = UserFactory()
    _strike(user)
    _strike(user)
    assert Strike.objects.filter(user=user).count() == 2
    assert not Suspension.objects.exists()
    assert not Case.objects.exists()
    generation_permission_check(user=user)  # does not raise


def test_passing_the_threshold_suspends_the_account_and_opens_one_case():
    user = UserFactory()
    for _ in range(3):
        _strike(user)
    suspension = Suspension.objects.get(user=user)
    assert suspension.end_user == ""
    assert suspension.ends_at > timezone.now() + datetime.timedelta(hours=23)
    case = Case.objects.get(source=Case.Source.STRIKES)
    assert case.subject_user == user and case.category == "violence"
    assert suspension.case == case
    assert "3 blocked attempts" in case.summary
    entry = AuditLogEntry.objects.get(action="user.suspend")
    assert entry.actor is None and entry.target_id == str(user.pk)
    with pytest.raises(PermissionDenied) as error:
        generation_permission_check(user=user)
    assert error.value.status_code == 403
    assert "Your account is suspended from generating images until" in error.value.message
    # More blocked attempts while suspended do not stack suspensions or cases.
    _strike(user)
    assert Suspension.objects.count() == 1 and Case.objects.count() == 1


def test_one_bad_end_user_does_not_sink_the_integrator():
    integrator = UserFactory()
    for _ in range(3):
        _strike(integrator, end_user="bad-kid")
    _strike(integrator, end_user="fine-person")
    suspension = Suspension.objects.get()
    assert suspension.end_user == "bad-kid"
    with pytest.raises(PermissionDenied) as error:
        generation_permission_check(user=integrator, end_user="bad-kid")
    assert error.value.param == "user"
    assert "This end user" in error.value.message
    assert "other end users are not affected" in error.value.message
    generation_permission_check(user=integrator, end_user="fine-person")
    generation_permission_check(user=integrator)


def test_end_user_strikes_do_not_count_toward_the_accounts_own_threshold():
    integrator = UserFactory()
    for name in ("a", "b"):
        _strike(integrator, end_user=name)
        _strike(integrator, end_user=name)
    _strike(integrator)
    _strike(integrator)
    assert not Suspension.objects.exists()


def test_many_end_users_together_pass_the_account_wide_threshold():
    """Rotating end-user ids does not dodge the count: 7 strikes from 7 ids suspend the account."""
    integrator = UserFactory()
    for number in range(7):
        _strike(integrator, end_user=f"rotating-{number}")
    suspension = Suspension.objects.get()
    assert suspension.end_user == ""
    with pytest.raises(PermissionDenied):
        generation_permission_check(user=integrator, end_user="someone-new")


def test_the_window_slides():
    user = UserFactory()
    _strike(user)
    _strike(user)
    # Both age past the one-hour window.
    Strike.objects.update(created_at=timezone.now() - datetime.timedelta(minutes=61))
    _strike(user)
    assert strikes_in_window(user=user).count() == 1
    assert not Suspension.objects.exists()
    _strike(user)
    _strike(user)
    assert Suspension.objects.count() == 1


def test_a_suspension_uses_up_the_strikes_that_caused_it():
    user = UserFactory()
    for _ in range(3):
        _strike(user)
    Suspension.objects.update(ends_at=timezone.now() - datetime.timedelta(seconds=1))
    generation_permission_check(user=user)  # the suspension is over
    _strike(user)
    assert Suspension.objects.count() == 1  # one new strike, not four


def test_overturned_blocks_do_not_count():
    user = UserFactory()
    _strike(user)
    _strike(user)
    Decision.objects.update(overturned=True)
    _strike(user)
    assert not Suspension.objects.exists()


def test_recording_the_same_decision_twice_counts_once():
    user = UserFactory()
    decision = make_decision(user=user)
    first = strike_record(user=user, end_user="", decision=decision)
    again = strike_record(user=user, end_user="", decision=decision)
    assert first.pk == again.pk
    assert Strike.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_blocked_attempts_suspend_once():
    user = UserFactory()
    _strike(user)
    decisions = [make_decision(user=user) for _ in range(6)]
    results = run_concurrently(
        [lambda d=d: strike_record(user=user, end_user="", decision=d) for d in decisions]
    )
    assert all(isinstance(result, Strike) for result in results), results
    assert Strike.objects.count() == 7
    assert Suspension.objects.count() == 1
    assert Case.objects.filter(source=Case.Source.STRIKES).count() == 1
