"""Lots and expiry, monthly free grants, the stale-reservation sweep, account deletion."""

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from billing.models import CreditLot, LedgerEntry, Reservation, Wallet
from billing.services.credits import (
    credits_adjust,
    credits_capture,
    credits_release,
    credits_reserve,
    lots_expire,
    monthly_grants_issue,
    reservations_sweep,
)
from tests.billing.conftest import assert_invariant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def test_spending_takes_the_lots_that_expire_first(user_with_balance, staff_user):
    user = user_with_balance(5)  # free lot, expires at the end of this month
    now = timezone.now()
    late = credits_adjust(
        user=user,
        amount=10,
        actor=staff_user,
        reason="late",
        expires_at=now + dt.timedelta(days=300),
    ).lot
    never = credits_adjust(user=user, amount=10, actor=staff_user, reason="never").lot
    soon = credits_adjust(
        user=user, amount=3, actor=staff_user, reason="soon", expires_at=now + dt.timedelta(hours=1)
    ).lot
    free = CreditLot.objects.get(wallet__user=user, source="free")
    credits_reserve(user=user, generation_id=uuid.uuid4(), amount=10)
    remaining = {lot.pk: lot.remaining for lot in CreditLot.objects.filter(wallet__user=user)}
    # soon (3) and then free (5) are used up, then 2 from the 300-day lot; the never lot last
    assert remaining[soon.pk] == 0
    assert remaining[free.pk] == 0
    assert remaining[late.pk] == 8
    assert remaining[never.pk] == 10
    assert_invariant(Wallet.objects.get(user=user))


def test_a_partial_capture_returns_credits_to_the_lots_expiring_last(user_with_balance, staff_user):
    user = user_with_balance(5)
    later = credits_adjust(
        user=user,
        amount=5,
        actor=staff_user,
        reason="later",
        expires_at=timezone.now() + dt.timedelta(days=300),
    ).lot
    generation_id = uuid.uuid4()
    credits_reserve(user=user, generation_id=generation_id, amount=8)  # 5 free + 3 later
    credits_capture(generation_id=generation_id, amount=5)  # the 3 unused go back to `later`
    later.refresh_from_db()
    assert later.remaining == 5
    assert CreditLot.objects.get(wallet__user=user, source="free").remaining == 0


def test_expiry_is_a_ledger_entry_written_by_the_periodic_task(user_with_balance):
    user = user_with_balance(50)
    lot = CreditLot.objects.get(wallet__user=user)
    assert lots_expire(now=lot.expires_at - dt.timedelta(seconds=1)) == 0
    assert lots_expire(now=lot.expires_at) == 1
    assert lots_expire(now=lot.expires_at) == 0  # idempotent
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 0
    entry = LedgerEntry.objects.get(kind="expiry")
    assert entry.amount == -50 and entry.lot_id == lot.pk
    assert_invariant(wallet)


def test_credits_released_into_an_expired_lot_expire_again(user_with_balance):
    user = user_with_balance(10)
    lot = CreditLot.objects.get(wallet__user=user)
    generation_id = uuid.uuid4()
    credits_reserve(user=user, generation_id=generation_id, amount=4)
    lots_expire(now=lot.expires_at)  # the 6 unheld credits expire
    credits_release(generation_id=generation_id)  # 4 come back into the expired lot
    lots_expire(now=lot.expires_at)
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 0
    assert LedgerEntry.objects.filter(kind="expiry").count() == 2
    assert_invariant(wallet)


def test_reserve_does_not_spend_credits_past_their_expiry(user_with_balance, staff_user):
    user = user_with_balance(0)
    credits_adjust(
        user=user,
        amount=5,
        actor=staff_user,
        reason="short",
        expires_at=timezone.now() - dt.timedelta(seconds=1),
    )
    from common.errors import InsufficientQuota

    with pytest.raises(InsufficientQuota):
        credits_reserve(user=user, generation_id=uuid.uuid4(), amount=1)
    # the refusal rolled back, so the expiry is still the periodic task's to write
    assert Wallet.objects.get(user=user).balance == 5


def test_monthly_grants_across_a_month_boundary(settings):
    from tests.factories import ensure_tiers

    ensure_tiers()
    january = dt.datetime(2026, 1, 10, 12, tzinfo=UTC)
    user = UserFactory(date_joined=january)
    sign_up_month = LedgerEntry.objects.get(wallet__user=user).idempotency_key
    assert monthly_grants_issue(now=january) == 1  # (the wallet's sign-up grant is keyed on today)
    february = dt.datetime(2026, 2, 1, 0, 30, tzinfo=UTC)
    assert monthly_grants_issue(now=february) == 1
    assert monthly_grants_issue(now=february + dt.timedelta(hours=5)) == 0  # once per month
    grant = LedgerEntry.objects.get(idempotency_key=f"free:{user.pk}:2026-02")
    assert grant.amount == 15
    assert grant.lot.expires_at == dt.datetime(2026, 3, 1, tzinfo=UTC)  # does not roll over
    assert monthly_grants_issue(now=dt.datetime(2026, 3, 2, tzinfo=UTC)) == 1
    keys = set(
        LedgerEntry.objects.filter(idempotency_key__startswith="free:").values_list(
            "idempotency_key", flat=True
        )
    )
    assert keys == {
        sign_up_month,
        f"free:{user.pk}:2026-01",
        f"free:{user.pk}:2026-02",
        f"free:{user.pk}:2026-03",
    }
    # a user who joined after a month began gets nothing for the months before
    late = UserFactory(date_joined=dt.datetime(2026, 3, 20, tzinfo=UTC))
    assert monthly_grants_issue(now=february) == 0
    assert not LedgerEntry.objects.filter(idempotency_key=f"free:{late.pk}:2026-02").exists()


def test_monthly_grant_skips_the_month_of_sign_up_and_inactive_users():
    from tests.factories import ensure_tiers

    ensure_tiers()
    user = UserFactory()  # sign-up grant is this month's free grant
    UserFactory(is_active=False)
    assert monthly_grants_issue() == 0
    assert Wallet.objects.get(user=user).balance == 50


def test_stale_reservations_are_released_by_the_sweep(user_with_balance, settings):
    settings.BILLING_RESERVATION_TIMEOUT = 60
    user = user_with_balance(10)
    old, fresh = uuid.uuid4(), uuid.uuid4()
    credits_reserve(user=user, generation_id=old, amount=3)
    credits_reserve(user=user, generation_id=fresh, amount=2)
    Reservation.objects.filter(generation_id=old).update(
        created_at=timezone.now() - dt.timedelta(minutes=5)
    )
    assert reservations_sweep() == 1
    assert reservations_sweep() == 0
    assert Reservation.objects.get(generation_id=old).status == "released"
    assert Reservation.objects.get(generation_id=fresh).status == "reserved"
    assert Wallet.objects.get(user=user).balance == 8


def test_account_deletion_keeps_the_ledger_and_zeroes_the_wallet(user_with_balance):
    from accounts.services.users import user_delete

    user = user_with_balance(10)
    credits_reserve(user=user, generation_id=uuid.uuid4(), amount=3)
    entries_before = LedgerEntry.objects.filter(wallet__user=user).count()
    user_delete(user=user)
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 0
    assert (
        LedgerEntry.objects.filter(wallet=wallet).count() == entries_before + 2
    )  # release, expiry
    assert_invariant(wallet)


def test_beat_schedule_names_registered_billing_tasks(settings):
    from config.celery import app

    app.loader.import_default_modules()
    billing_entries = {
        k: v for k, v in settings.CELERY_BEAT_SCHEDULE.items() if k.startswith("billing-")
    }
    assert {v["task"] for v in billing_entries.values()} == {
        "billing.lots_expire",
        "billing.monthly_grants_issue",
        "billing.reservations_sweep",
        "billing.stripe_events_resend",
    }
    assert all(v["task"] in app.tasks for v in billing_entries.values())


def test_the_monthly_grant_task_grants_once_a_month(settings):
    from billing.tasks import monthly_grants_issue_task
    from tests.factories import ensure_tiers

    ensure_tiers()
    settings.BILLING_SIGNUP_GRANT = 0  # as for a user who signed up before billing existed
    user = UserFactory()
    monthly_grants_issue_task.delay()
    monthly_grants_issue_task.delay()
    assert Wallet.objects.get(user=user).balance == 15
