"""Billing fixtures: users with an exact balance, and a helper that checks the ledger invariant."""

import importlib
from collections.abc import Callable

import pytest
from django.db.models import Sum

from billing.models import CreditLot, LedgerEntry, Wallet
from tests.factories import UserFactory


def assert_invariant(wallet: Wallet) -> None:
    """The balance equals the sum of the entries and the sum of the lots' remaining credits."""
    wallet.refresh_from_db()
    entries = LedgerEntry.objects.filter(wallet=wallet).aggregate(t=Sum("amount"))["t"] or 0
    lots = CreditLot.objects.filter(wallet=wallet).aggregate(t=Sum("remaining"))["t"] or 0
    assert wallet.balance >= 0
    assert wallet.balance == entries == lots, (wallet.balance, entries, lots)


def ensure_tiers() -> None:
    """Transactional tests flush every table, the seeded tiers with them: put them back."""
    from accounts.models import Tier

    seed = importlib.import_module("accounts.migrations.0002_seed_tiers")
    for values in seed.TIERS:
        Tier.objects.update_or_create(name=values["name"], defaults=values)


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
