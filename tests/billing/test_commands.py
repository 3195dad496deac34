"""`python manage.py credits grant|balance|reconcile`."""

import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.models import LedgerEntry, Payment, Wallet
from billing.services.credits import credits_reserve

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("credits", *args, stdout=out)
    return out.getvalue()


def test_grant_records_a_staff_adjustment_with_the_reason(user_with_balance, staff_user):
    user = user_with_balance(5, email="alice@example.com")
    staff_user.is_superuser = True
    staff_user.save()
    output = run("grant", "alice@example.com", "20", "--reason", "support ticket 42")
    assert "balance 25" in output
    entry = LedgerEntry.objects.get(kind="adjustment")
    assert entry.actor == staff_user and entry.reason == "support ticket 42"
    assert "balance 25" in run("balance", "alice@example.com")
    assert Wallet.objects.get(user=user).balance == 25


def test_grant_needs_a_reason_and_a_known_user(user_with_balance, staff_user):
    user_with_balance(5, email="alice@example.com")
    with pytest.raises(CommandError):
        run("grant", "nobody@example.com", "20", "--reason", "x", "--actor", "staff@example.com")
    with pytest.raises(CommandError, match="needs a reason"):
        run("grant", "alice@example.com", "20", "--reason", " ", "--actor", "staff@example.com")
    with pytest.raises(CommandError, match="balance is 5"):
        run("grant", "alice@example.com", "-6", "--reason", "x", "--actor", "staff@example.com")
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()


def test_reconcile_passes_on_a_clean_ledger(user_with_balance):
    user = user_with_balance(5)
    credits_reserve(user=user, generation_id=uuid.uuid4(), amount=2)
    assert "no differences" in run("reconcile")


def test_reconcile_detects_a_planted_balance_mismatch(user_with_balance):
    user = user_with_balance(5)
    Wallet.objects.filter(user=user).update(balance=7)  # a write that bypassed the ledger
    out = StringIO()
    with pytest.raises(CommandError) as error:
        call_command("credits", "reconcile", stdout=out)
    assert error.value.returncode == 1
    wallet = Wallet.objects.get(user=user)
    assert (
        f"wallet {wallet.pk} (user {user.pk}): balance 7, entries sum 5, lots hold 5"
        in out.getvalue()
    )


def test_reconcile_detects_a_paid_payment_without_its_grant(user_with_balance):
    user = user_with_balance(0)
    Payment.objects.create(
        wallet=Wallet.objects.get(user=user),
        kind="pack",
        credits=115,
        amount_cents=1500,
        checkout_session_id="cs_planted",
        status="paid",
    )
    out = StringIO()
    with pytest.raises(CommandError):
        call_command("credits", "reconcile", stdout=out)
    assert "payment cs_planted: paid for 115 credits, granted 0" in out.getvalue()
