"""Billing fixtures: users with an exact balance, and a helper that checks the ledger invariant."""

from collections.abc import Callable

import pytest
from django.db.models import Sum

from billing.models import CreditLot, LedgerEntry, Wallet
from tests.factories import UserFactory, ensure_tiers


def assert_invariant(wallet: Wallet) -> None:
    """The balance equals the sum of the entries and the sum of the lots' remaining credits."""
    wallet.refresh_from_db()
    entries = LedgerEntry.objects.filter(wallet=wallet).aggregate(t=Sum("amount"))["t"] or 0
    lots = CreditLot.objects.filter(wallet=wallet).aggregate(t=Sum("remaining"))["t"] or 0
    assert wallet.balance >= 0
    assert wallet.balance == entries == lots, (wallet.balance, entries, lots)


@pytest.fixture
def user_with_balance(settings) -> Callable[[int], object]:  # type: ignore[no-untyped-def]
    """A new user whose sign-up grant is exactly `credits` (0: an empty wallet)."""

    def make(credits: int, **fields: object) -> object:
        ensure_tiers()
        settings.BILLING_SIGNUP_GRANT = credits
        return UserFactory(**fields)

    return make


@pytest.fixture
def staff_user():  # type: ignore[no-untyped-def]
    ensure_tiers()
    return UserFactory(is_staff=True, email="staff@example.com")


@pytest.fixture(scope="session")
def _stripe_server_process():  # type: ignore[no-untyped-def]
    from tests.billing.stripe_server import StripeServer

    with StripeServer() as server:
        yield server


@pytest.fixture
def stripe_server(_stripe_server_process):  # type: ignore[no-untyped-def]
    """The local Stripe, emptied for each test."""
    _stripe_server_process.reset()
    return _stripe_server_process


@pytest.fixture
def stripe_settings(settings, stripe_server):  # type: ignore[no-untyped-def]
    """Payments configured against the local Stripe, with the paid tiers' price ids."""
    from tests.billing.stripe_server import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET

    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_server.url
    settings.BILLING_STRIPE_PRICE_IDS = {"plus": "price_plus_monthly", "pro": "price_pro_monthly"}
    return settings
