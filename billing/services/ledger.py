"""Ledger primitives: the moves every balance change is made of.

Each function here expects its caller to hold the wallet's row lock (`wallet_lock`) inside a
transaction, and moves the cached balance with SQL arithmetic in the same transaction as the
entry that explains it. `billing.services.credits` (reservations, grants, expiry, staff
adjustments) and `billing.services.payments` (Stripe purchases, refunds, disputes) are built
from them; nothing else should call them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F, Q

from billing.models import CreditLot, LedgerEntry, Payment, Wallet
from common.errors import InvalidRequest


def wallet_lock(*, user_id: int) -> Wallet:
    """The user's wallet, row-locked until the transaction ends. Lock order: docs/billing.md."""
    return Wallet.objects.select_for_update().get(user_id=user_id)


def entry_append(
    *,
    wallet: Wallet,
    amount: int,
    kind: str,
    key: str,
    now: dt.datetime,
    **references: Any,
) -> LedgerEntry:
    """Move the balance and append its entry. The database constraint refuses a negative balance."""
    if amount:
        Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + amount, updated_at=now)
    # Safe to compute here: the row is locked, nobody else moved it since we read it.
    wallet.balance += amount
    return LedgerEntry.objects.create(
        wallet=wallet,
        amount=amount,
        kind=kind,
        idempotency_key=key,
        balance_after=wallet.balance,
        created_at=now,
        **references,
    )


def lots_live(*, wallet: Wallet, now: dt.datetime) -> list[CreditLot]:
    """Lots with credits left and not past their expiry, in the order spending takes them:
    soonest expiry first, never-expiring last."""
    return list(
        CreditLot.objects.filter(wallet=wallet, remaining__gt=0)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by(F("expires_at").asc(nulls_last=True), "id")
    )


def lots_spendable(*, wallet: Wallet, now: dt.datetime) -> list[CreditLot]:
    """`lots_live`, after writing the expiry of the wallet's lots already due (so the balance
    read afterwards holds no expired credit)."""
    due = CreditLot.objects.filter(wallet=wallet, remaining__gt=0, expires_at__lte=now)
    for lot in due.order_by("id"):
        lot_expire(wallet=wallet, lot=lot, now=now)
    return lots_live(wallet=wallet, now=now)


def lot_expire(*, wallet: Wallet, lot: CreditLot, now: dt.datetime, reason: str = "") -> None:
    """Write off what is left in `lot` (an `expiry` entry)."""
    amount = lot.remaining
    if amount <= 0:
        return
    # A lot can expire more than once (credits released back into it after it expired): the
    # running total of what it expired keeps each key unique.
    key = f"expiry:{lot.pk}:{lot.expired + amount}"
    CreditLot.objects.filter(pk=lot.pk).update(
        remaining=F("remaining") - amount, expired=F("expired") + amount, updated_at=now
    )
    lot.remaining -= amount
    lot.expired += amount
    entry_append(
        wallet=wallet,
        amount=-amount,
        kind=LedgerEntry.Kind.EXPIRY,
        key=key,
        now=now,
        lot=lot,
        reason=reason,
    )


def lots_take(
    *, lots: list[CreditLot], amount: int, now: dt.datetime
) -> list[tuple[CreditLot, int]]:
    """Take `amount` from `lots` in order; (lot, taken) pairs. The caller checked the total."""
    taken = []
    left = amount
    for lot in lots:
        if left == 0:
            break
        part = min(lot.remaining, left)
        if part <= 0:
            continue
        CreditLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - part, updated_at=now)
        lot.remaining -= part
        taken.append((lot, part))
        left -= part
    if left:
        raise AssertionError(f"lots held {amount - left} of {amount} credits")  # caller checked
    return taken


def lot_return(*, lot_id: int, amount: int, now: dt.datetime) -> None:
    """Put `amount` credits back into the lot they were taken from (a release, a refund)."""
    CreditLot.objects.filter(pk=lot_id).update(remaining=F("remaining") + amount, updated_at=now)


def lot_grant(
    *,
    wallet: Wallet,
    amount: int,
    kind: str,
    source: str,
    key: str,
    now: dt.datetime,
    expires_at: dt.datetime | None,
    payment: Payment | None = None,
    **references: Any,
) -> CreditLot | None:
    """Add a lot and its entry; None when `key` was granted before. New credits pay debt first."""
    if amount <= 0:
        raise InvalidRequest("A grant must be a positive number of credits.", param="amount")
    if LedgerEntry.objects.filter(idempotency_key=key).exists():
        return None
    lot = CreditLot.objects.create(
        wallet=wallet,
        source=source,
        granted=amount,
        remaining=amount,
        expires_at=expires_at,
        payment=payment,
    )
    entry_append(wallet=wallet, amount=amount, kind=kind, key=key, now=now, lot=lot, **references)
    if wallet.debt > 0:
        _debt_pay(wallet=wallet, lot=lot, key=key, now=now)
    return lot


def _debt_pay(*, wallet: Wallet, lot: CreditLot, key: str, now: dt.datetime) -> None:
    paid = min(wallet.debt, lot.remaining)
    CreditLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - paid)
    lot.remaining -= paid
    Wallet.objects.filter(pk=wallet.pk).update(debt=F("debt") - paid)
    wallet.debt -= paid
    entry_append(
        wallet=wallet,
        amount=-paid,
        kind=LedgerEntry.Kind.DEBT,
        key=f"{key}:debt",
        now=now,
        lot=lot,
        reason=f"{paid} credits owed after a payment dispute",
    )
