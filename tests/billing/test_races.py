"""Races against real PostgreSQL: each thread holds its own database connection."""

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from billing.models import LedgerEntry, Reservation, Wallet
from billing.services.credits import credits_capture, credits_release, credits_reserve
from common.errors import InsufficientQuota
from tests.billing.conftest import assert_invariant
from tests.concurrency import run_concurrently as shared_run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Start every call at once; a thread stuck for a minute fails the test, not the suite."""
    return shared_run_concurrently(calls, join_timeout=60)


def test_twenty_concurrent_reservations_against_a_balance_for_seven(user_with_balance):
    user = user_with_balance(7)
    results = run_concurrently(
        [
            lambda: credits_reserve(user=user, generation_id=uuid.uuid4(), amount=1)
            for _ in range(20)
        ]
    )
    succeeded = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, InsufficientQuota)]
    assert len(succeeded) == 7
    assert len(refused) == 13, [
        r for r in results if not isinstance(r, Reservation | InsufficientQuota)
    ]
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 0
    assert LedgerEntry.objects.filter(wallet=wallet, kind="reserve").count() == 7
    assert_invariant(wallet)


def test_concurrent_retries_of_one_reservation_reserve_once(user_with_balance):
    user = user_with_balance(10)
    generation_id = uuid.uuid4()
    results = run_concurrently(
        [
            lambda: credits_reserve(user=user, generation_id=generation_id, amount=3)
            for _ in range(8)
        ]
    )
    assert all(isinstance(r, Reservation) for r in results), results
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == 7
    assert_invariant(wallet)


@pytest.mark.parametrize("attempt", range(3))
def test_capture_racing_release_settles_once(user_with_balance, attempt):
    user = user_with_balance(10)
    generation_id = uuid.uuid4()
    credits_reserve(user=user, generation_id=generation_id, amount=4)
    results = run_concurrently(
        [
            lambda: credits_capture(generation_id=generation_id, amount=3),
            lambda: credits_release(generation_id=generation_id),
            lambda: credits_capture(generation_id=generation_id, amount=3),
            lambda: credits_release(generation_id=generation_id),
        ]
    )
    assert not [r for r in results if isinstance(r, Exception)], results
    reservation = Reservation.objects.get(generation_id=generation_id)
    wallet = Wallet.objects.get(user=user)
    # whichever came first won; the other changed nothing
    if reservation.status == Reservation.Status.CAPTURED:
        assert wallet.balance == 7
        assert LedgerEntry.objects.filter(kind="capture").count() == 1
    else:
        assert reservation.status == Reservation.Status.RELEASED
        assert wallet.balance == 10
        assert not LedgerEntry.objects.filter(kind="capture").exists()
    assert LedgerEntry.objects.filter(kind="release").count() <= 1
    assert_invariant(wallet)


def test_ten_concurrent_deliveries_of_one_event_grant_once(
    user_with_balance, stripe_settings, stripe_server
):
    """Ten webhook requests race, each on its own connection: one stores and grants, all get 200."""
    from django.test import Client

    from billing.models import Payment, StripeEvent
    from billing.services.payments import checkout_pack_start

    buyer = user_with_balance(0)
    start = checkout_pack_start(user=buyer)
    event = stripe_server.event(
        "checkout.session.completed", stripe_server.pay_checkout_session(start.session_id)
    )
    responses = run_concurrently(
        [lambda: stripe_server.deliver(Client(), event) for _ in range(10)]
    )
    assert [getattr(r, "status_code", r) for r in responses] == [200] * 10
    assert sorted(r.json()["duplicate"] for r in responses) == [False] + [True] * 9
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.balance == 115
    assert StripeEvent.objects.get().status == "processed"
    assert Payment.objects.get().status == "paid"
    assert_invariant(wallet)


def test_two_events_for_one_payment_processed_concurrently_grant_once(
    user_with_balance, stripe_settings, stripe_server
):
    """checkout.session.completed and async_payment_succeeded processed at the same moment."""
    from billing.services.payments import checkout_pack_start
    from billing.services.webhooks import stripe_event_process

    buyer = user_with_balance(0)
    start = checkout_pack_start(user=buyer)
    session = stripe_server.pay_checkout_session(start.session_id)
    from billing.models import StripeEvent

    ids = []
    for event_type in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        event = stripe_server.event(event_type, session)
        StripeEvent.objects.create(event_id=event["id"], type=event_type, payload=event)
        ids.append(event["id"])
    results = run_concurrently([lambda i=i: stripe_event_process(event_id=i) for i in ids * 3])
    assert set(results) == {"processed"}
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.balance == 115
    assert LedgerEntry.objects.filter(kind="purchase").count() == 1
    assert_invariant(wallet)
