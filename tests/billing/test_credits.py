"""The ledger services: reserve, capture, release, refund, adjust, free grants."""

import uuid

import pytest

from billing.models import CreditLot, LedgerEntry, Reservation, Wallet
from billing.selectors import generation_cost, image_price
from billing.services.credits import (
    credits_adjust,
    credits_capture,
    credits_release,
    credits_reserve,
)
from common.errors import InsufficientQuota, InvalidRequest, NotFound, PermissionDenied
from tests.billing.conftest import assert_invariant
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_prices_follow_the_settings_table():
    assert image_price(pixels=256 * 256) == 1
    assert image_price(pixels=512 * 512) == 1
    assert image_price(pixels=1024 * 1024) == 2
    assert generation_cost(pixels=1024 * 1024, n=3) == 6
    # Any shape is priced by its pixels: the smallest listed square that holds them, and past
    # the largest square its price per pixel, rounded up.
    assert image_price(pixels=300 * 300) == 1
    assert image_price(pixels=1536 * 1024) == 3
    assert image_price(pixels=1792 * 1024) == 4
    with pytest.raises(InvalidRequest) as error:
        image_price(pixels=0)
    assert error.value.param == "size"


def test_new_user_gets_a_wallet_with_the_signup_grant_expiring_at_month_end():
    user = UserFactory()
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 50
    lot = CreditLot.objects.get(wallet=wallet)
    assert lot.source == CreditLot.Source.FREE
    assert lot.expires_at.day == 1 and lot.expires_at > wallet.created_at
    assert (lot.expires_at - wallet.created_at).days <= 31
    assert_invariant(wallet)


def test_reserve_takes_credits_and_is_idempotent_on_the_generation(user_with_balance):
    user = user_with_balance(5)
    generation_id = uuid.uuid4()
    first = credits_reserve(user=user, generation_id=generation_id, amount=3, size=512)
    again = credits_reserve(user=user, generation_id=generation_id, amount=3, size=512)
    assert first.pk == again.pk
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 2
    assert LedgerEntry.objects.filter(wallet=wallet, kind="reserve").count() == 1
    assert_invariant(wallet)


def test_reserve_refuses_more_than_the_balance_and_changes_nothing(user_with_balance):
    user = user_with_balance(2)
    with pytest.raises(InsufficientQuota) as error:
        credits_reserve(user=user, generation_id=uuid.uuid4(), amount=3)
    assert error.value.status_code == 429
    assert error.value.code == "insufficient_quota"
    assert error.value.message.startswith("You exceeded your current quota")
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 2
    assert not Reservation.objects.exists()
    assert_invariant(wallet)


@pytest.mark.parametrize("amount", [0, -1])
def test_reserve_refuses_a_non_positive_amount(user_with_balance, amount):
    user = user_with_balance(2)
    with pytest.raises(InvalidRequest):
        credits_reserve(user=user, generation_id=uuid.uuid4(), amount=amount)
    assert Wallet.objects.get(user=user).balance == 2


def test_capture_spends_part_and_releases_the_rest(user_with_balance):
    user = user_with_balance(10)
    generation_id = uuid.uuid4()
    credits_reserve(user=user, generation_id=generation_id, amount=4)
    reservation = credits_capture(generation_id=generation_id, amount=3)
    assert reservation.status == Reservation.Status.CAPTURED and reservation.captured == 3
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 7
    # idempotent: a second capture and a release after capture change nothing
    credits_capture(generation_id=generation_id, amount=4)
    credits_release(generation_id=generation_id)
    wallet.refresh_from_db()
    assert wallet.balance == 7
    assert_invariant(wallet)


def test_release_after_release_and_capture_after_release_change_nothing(user_with_balance):
    user = user_with_balance(10)
    generation_id = uuid.uuid4()
    credits_reserve(user=user, generation_id=generation_id, amount=4)
    credits_release(generation_id=generation_id)
    credits_release(generation_id=generation_id)
    reservation = credits_capture(generation_id=generation_id, amount=4)
    assert reservation.status == Reservation.Status.RELEASED and reservation.captured == 0
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 10
    assert_invariant(wallet)


def test_capture_more_than_reserved_is_refused(user_with_balance):
    user = user_with_balance(10)
    generation_id = uuid.uuid4()
    credits_reserve(user=user, generation_id=generation_id, amount=2)
    with pytest.raises(InvalidRequest):
        credits_capture(generation_id=generation_id, amount=3)
    assert Reservation.objects.get().status == Reservation.Status.RESERVED
    with pytest.raises(NotFound):
        credits_capture(generation_id=uuid.uuid4(), amount=1)


def test_api_key_monthly_cap_counts_this_months_spending_through_the_key(user_with_balance):
    from accounts.services.api_keys import api_key_create

    user = user_with_balance(20)
    key = api_key_create(user=user, name="ci", monthly_credit_cap=5).key
    first = uuid.uuid4()
    credits_reserve(user=user, generation_id=first, amount=3, api_key=key)
    credits_capture(generation_id=first, amount=2)
    credits_reserve(user=user, generation_id=uuid.uuid4(), amount=3, api_key=key)  # 2 + 3 = 5
    with pytest.raises(InsufficientQuota) as error:
        credits_reserve(user=user, generation_id=uuid.uuid4(), amount=1, api_key=key)
    assert "monthly cap is 5" in error.value.message
    # the web (no key) is not capped by the key
    credits_reserve(user=user, generation_id=uuid.uuid4(), amount=1)


def test_frozen_or_indebted_wallets_cannot_spend(user_with_balance):
    from django.utils import timezone

    user = user_with_balance(10)
    Wallet.objects.filter(user=user).update(frozen_at=timezone.now())
    with pytest.raises(InsufficientQuota, match="dispute"):
        credits_reserve(user=user, generation_id=uuid.uuid4(), amount=1)
    Wallet.objects.filter(user=user).update(frozen_at=None, debt=3)
    with pytest.raises(InsufficientQuota, match="owes 3 credits"):
        credits_reserve(user=user, generation_id=uuid.uuid4(), amount=1)
    assert Wallet.objects.get(user=user).balance == 10


def test_staff_adjustment_names_the_staff_member_and_needs_a_reason(user_with_balance, staff_user):
    user = user_with_balance(5)
    entry = credits_adjust(user=user, amount=10, actor=staff_user, reason="goodwill")
    assert entry.actor == staff_user and entry.reason == "goodwill" and entry.amount == 10
    credits_adjust(user=user, amount=-12, actor=staff_user, reason="duplicate grant")
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 3
    with pytest.raises(InvalidRequest):
        credits_adjust(user=user, amount=5, actor=staff_user, reason="  ")
    with pytest.raises(InvalidRequest):
        credits_adjust(user=user, amount=-4, actor=staff_user, reason="too much")
    with pytest.raises(PermissionDenied):
        credits_adjust(user=user, amount=5, actor=user, reason="self-service")
    wallet.refresh_from_db()
    assert wallet.balance == 3
    assert_invariant(wallet)


@pytest.mark.postgres
def test_postgres_refuses_to_update_or_delete_a_ledger_entry(user_with_balance):
    from django.db import DatabaseError, transaction

    user = user_with_balance(5)
    entry = LedgerEntry.objects.get(wallet__user=user)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(amount=500)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).delete()
    entry.refresh_from_db()
    assert entry.amount == 5


def test_the_balance_cannot_go_below_zero_even_bypassing_the_services(user_with_balance):
    from django.db import IntegrityError, transaction

    user = user_with_balance(5)
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(user=user).update(balance=-1)
    assert Wallet.objects.get(user=user).balance == 5


@pytest.fixture(params=["one_statement", "step_by_step"])
def reserve_path(request, monkeypatch):  # type: ignore[no-untyped-def]
    """Both ways a reservation is written: PostgreSQL's single statement, and the ORM's steps
    that other databases use. On SQLite only the second exists, so the first is skipped."""
    from django.db import connection

    from billing.services import credits

    if request.param == "one_statement":
        if connection.vendor != "postgresql":
            pytest.skip("the single-statement reservation is PostgreSQL's")
    else:
        monkeypatch.setattr(credits, "_reserve_in_one_statement", credits._reserve_step_by_step)
    return request.param


def test_both_reservation_paths_write_the_same_ledger(user_with_balance, staff_user, reserve_path):
    """Lots taken soonest-expiry first across two lots, past-expiry credits never spent,
    a refusal that changes nothing, an idempotent retry, and a release that puts credits back."""
    import datetime as dt

    from django.utils import timezone

    user = user_with_balance(4)  # free lot, expires at the end of the month
    now = timezone.now()
    expired = credits_adjust(
        user=user, amount=7, actor=staff_user, reason="old", expires_at=now - dt.timedelta(days=1)
    ).lot
    soon = credits_adjust(
        user=user, amount=3, actor=staff_user, reason="soon", expires_at=now + dt.timedelta(hours=1)
    ).lot
    never = credits_adjust(user=user, amount=10, actor=staff_user, reason="never").lot
    free = CreditLot.objects.get(wallet__user=user, source="free")
    generation_id = uuid.uuid4()

    first = credits_reserve(user=user, generation_id=generation_id, amount=5, size=512)
    assert credits_reserve(user=user, generation_id=generation_id, amount=5).pk == first.pk
    with pytest.raises(InsufficientQuota, match="balance is 12"):  # 17 live, 5 held: 12 left
        credits_reserve(user=user, generation_id=uuid.uuid4(), amount=13)

    stored = Reservation.objects.get(generation_id=generation_id)
    assert (first.pk, first.amount, first.size, first.status) == (
        stored.pk,
        5,
        512,
        Reservation.Status.RESERVED,
    )
    assert sorted((p.lot_id, p.amount) for p in stored.parts.all()) == sorted(
        [(soon.pk, 3), (free.pk, 2)]
    )
    remaining = dict(CreditLot.objects.filter(wallet__user=user).values_list("pk", "remaining"))
    assert remaining == {expired.pk: 7, soon.pk: 0, free.pk: 2, never.pk: 10}
    entry = LedgerEntry.objects.get(kind="reserve")
    assert (entry.amount, entry.balance_after, entry.generation_id) == (-5, 19, generation_id)
    assert Wallet.objects.get(user=user).balance == 19  # the 7 past expiry await lots_expire

    credits_release(generation_id=generation_id)
    remaining = dict(CreditLot.objects.filter(wallet__user=user).values_list("pk", "remaining"))
    assert remaining == {expired.pk: 7, soon.pk: 3, free.pk: 4, never.pk: 10}
    assert_invariant(Wallet.objects.get(user=user))


def test_a_retry_answers_its_reservation_even_once_the_wallet_is_frozen(
    user_with_balance, reserve_path
):
    from django.utils import timezone

    user = user_with_balance(10)
    generation_id = uuid.uuid4()
    first = credits_reserve(user=user, generation_id=generation_id, amount=2)
    Wallet.objects.filter(user=user).update(frozen_at=timezone.now())
    assert credits_reserve(user=user, generation_id=generation_id, amount=2).pk == first.pk
    other = user_with_balance(10)
    with pytest.raises(InvalidRequest, match="another account"):
        credits_reserve(user=other, generation_id=generation_id, amount=2)
    assert Wallet.objects.get(user=user).balance == 8
