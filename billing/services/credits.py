"""The credit ledger: the only code that changes a balance.

Every change locks the wallet row (`select_for_update`), moves the cached balance with `F()`
arithmetic and appends one `LedgerEntry` under a unique idempotency key, in one transaction.
Public services that stand alone run in `transaction.atomic(durable=True)`: a caller cannot
wrap them in a bigger transaction and hold the wallet lock longer than the ledger needs.
Functions starting with `_` expect the wallet to be locked by their caller.

Lock order, everywhere: the Stripe event row (webhooks only), then the wallet, then the
reservation. No code locks two wallets.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import uuid
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from billing.models import CreditLot, LedgerEntry, Reservation, ReservationPart, Wallet
from billing.selectors import api_key_month_spending, image_refund_key, month_start
from billing.services.ledger import (
    entry_append,
    lot_expire,
    lot_grant,
    lot_return,
    lots_live,
    lots_spendable,
    lots_take,
    wallet_lock,
)
from billing.tasks import stripe_subscription_cancel_task
from common.errors import InsufficientQuota, InvalidRequest, NotFound, PermissionDenied

logger = logging.getLogger(__name__)

QUOTA_MESSAGE = "You exceeded your current quota, please check your plan and billing details."
# A staff adjustment larger than this is a typo, not a goodwill gesture (and far past it, the
# database's 64-bit columns would refuse it from inside a transaction).
MAX_ADJUSTMENT = 1_000_000
REASON_MAX = 500  # LedgerEntry.reason's length


# --- time helpers -----------------------------------------------------------------------------


def next_month_start(moment: dt.datetime) -> dt.datetime:
    """The first instant of the month after `moment` (UTC): when a free grant expires."""
    start = month_start(moment)
    return (start + dt.timedelta(days=32)).replace(day=1)


def add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    # 31 March + 1 month is 30 April, not an error.
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def quota_retry_after_seconds(*, now: dt.datetime | None = None) -> int:
    """A quota refusal's retry-after: the next month's start, when the free grant arrives and
    every key's monthly cap starts afresh (buying credits helps at once)."""
    now = now or timezone.now()
    return max(1, math.ceil((next_month_start(now) - now).total_seconds()))


def free_grant_key(*, user_id: int, moment: dt.datetime) -> str:
    """One free grant per user and month: the sign-up grant and the monthly grant share it."""
    return f"free:{user_id}:{month_start(moment):%Y-%m}"


# --- wallets and free grants -------------------------------------------------------------------


def wallet_get_or_create(*, user: Any) -> Wallet:
    """The user's wallet; a new one comes with the sign-up grant (the first month's free credits).

    Called by the post_save receiver when a user is created (billing/signals.py) and, for users
    that existed before billing did, lazily by `credits_reserve`. Safe to race: the wallet's
    unique user and the grant's idempotency key make the loser a no-op.
    """
    wallet = Wallet.objects.filter(user=user).first()
    if wallet is not None:
        return wallet
    with transaction.atomic():
        wallet, created = Wallet.objects.get_or_create(user=user)
        if created and settings.BILLING_SIGNUP_GRANT > 0:
            wallet = wallet_lock(user_id=user.pk)
            now = timezone.now()
            lot_grant(
                wallet=wallet,
                amount=settings.BILLING_SIGNUP_GRANT,
                kind=LedgerEntry.Kind.GRANT,
                source=CreditLot.Source.FREE,
                key=free_grant_key(user_id=user.pk, moment=now),
                now=now,
                expires_at=next_month_start(now),
                reason="Sign-up credits",
            )
    return wallet


def monthly_grant_issue(*, user: Any, now: dt.datetime | None = None) -> bool:
    """This month's free credits for one user; False when they already have them (idempotent)."""
    now = now or timezone.now()
    wallet = wallet_get_or_create(user=user)
    key = free_grant_key(user_id=user.pk, moment=now)
    if LedgerEntry.objects.filter(idempotency_key=key).exists():
        return False
    with transaction.atomic(durable=True):
        wallet = wallet_lock(user_id=user.pk)
        lot = lot_grant(
            wallet=wallet,
            amount=settings.BILLING_MONTHLY_FREE_GRANT,
            kind=LedgerEntry.Kind.GRANT,
            source=CreditLot.Source.FREE,
            key=key,
            now=now,
            expires_at=next_month_start(now),
            reason=f"Free credits for {month_start(now):%B %Y}",
        )
    return lot is not None


def monthly_grants_issue(*, now: dt.datetime | None = None) -> int:
    """Free credits for every active user who has none for this month yet. Run by Celery beat."""

    now = now or timezone.now()
    if settings.BILLING_MONTHLY_FREE_GRANT <= 0:
        return 0
    start = month_start(now)
    granted_ids = LedgerEntry.objects.filter(
        idempotency_key__startswith="free:", idempotency_key__endswith=f":{start:%Y-%m}"
    )
    users = (
        User.objects.filter(is_active=True, deleted_at__isnull=True, date_joined__lte=now)
        .exclude(wallet__entries__in=granted_ids)
        .order_by("pk")
    )
    issued = 0
    for user in users.iterator(chunk_size=500):
        issued += monthly_grant_issue(user=user, now=now)
    return issued


# --- reservations ------------------------------------------------------------------------------


def credits_reserve(
    *,
    user: Any,
    generation_id: uuid.UUID | str,
    amount: int,
    api_key: Any = None,
    size: int | None = None,
) -> Reservation:
    """Hold `amount` credits for one generation before it is queued. Idempotent on `generation_id`.

    Raises InsufficientQuota (429 `insufficient_quota`) when the live credits (lots not past their
    expiry) are short, the account is frozen by a dispute or owes credits, or the key's monthly
    credit cap would be passed. Credits past their expiry are never spent; their `expiry` entry
    is the periodic task's to write (`lots_expire`).

    The hottest money path (every job): on PostgreSQL one row lock and one statement that takes
    the lots, inserts the reservation, its parts and its entry and moves the balance, sent to
    the server together (`_reserve_in_one_statement`): the wallet lock is held for the server's
    work and the commit, not for eight round trips.
    """
    if not isinstance(amount, int) or amount <= 0:
        raise InvalidRequest("A reservation must be a positive number of credits.", param="amount")
    generation_id = uuid.UUID(str(generation_id))
    reserve = (
        _reserve_in_one_statement if connection.vendor == "postgresql" else _reserve_step_by_step
    )
    now = timezone.now()
    with transaction.atomic(durable=True):
        outcome = reserve(
            user=user,
            generation_id=generation_id,
            amount=amount,
            api_key=api_key,
            size=size,
            now=now,
        )
        if outcome is None:  # a user from before billing existed: the wallet and its grant first
            wallet_get_or_create(user=user)
            outcome = reserve(
                user=user,
                generation_id=generation_id,
                amount=amount,
                api_key=api_key,
                size=size,
                now=now,
            )
    if isinstance(outcome, Reservation):
        return outcome
    raise InsufficientQuota(
        f"{QUOTA_MESSAGE} This request needs {amount} credits and your balance is {outcome}."
    )


# The wallet fields a reservation reads; the others load if asked for (Django's deferred fields).
_LOCK_FIELDS = ["id", "user_id", "balance", "debt", "frozen_at"]
_LOCK_SQL = (
    "SELECT id, user_id, balance, debt, frozen_at FROM billing_wallet "
    "WHERE user_id = %(user)s FOR UPDATE"
)


def _prepared_cursor() -> Any:
    """A cursor whose statements PostgreSQL prepares once per connection (psycopg's server-side
    binding; Django's own cursors bind on the client, so the server plans every execution).
    Wrapped as Django wraps its cursors, so query logging and execute wrappers still see it."""
    connection.ensure_connection()
    return CursorWrapper(psycopg.Cursor(connection.connection), connection)


def _existing_reservation(*, existing: Reservation, wallet: Wallet) -> Reservation:
    if existing.wallet_id != wallet.pk:
        raise InvalidRequest(
            "This generation id belongs to another account.", param="generation_id"
        )
    return existing


# What _reserve_in_one_statement runs after _LOCK_SQL. A statement of its own, so that it reads
# the lots after the lock was granted (READ COMMITTED takes a snapshot per statement; a lock
# waited for inside the statement would leave the lots read from before the wait). Each
# data-modifying step runs only if the reservation was inserted: the insert is skipped when the
# wallet may not spend (frozen by a dispute, in debt), when its live lots hold too little, or
# (ON CONFLICT) when this generation was reserved before. The running total takes the lots in
# lots_live's order: soonest expiry first, none last.
_RESERVE_SQL = """
WITH spender AS (
    SELECT id FROM billing_wallet
    WHERE user_id = %(user)s AND frozen_at IS NULL AND debt = 0
),
live AS (
    SELECT id, remaining,
           sum(remaining) OVER (ORDER BY expires_at ASC NULLS LAST, id) - remaining AS before
    FROM billing_creditlot
    WHERE wallet_id = (SELECT id FROM spender) AND remaining > 0
      AND (expires_at IS NULL OR expires_at > %(now)s)
),
total AS (SELECT coalesce(sum(remaining), 0) AS available FROM live),
new_reservation AS (
    INSERT INTO billing_reservation (wallet_id, generation_id, api_key_id, size, amount,
                                     captured, refunded, status, created_at, updated_at)
    SELECT spender.id, %(generation)s, %(api_key)s, %(size)s, %(amount)s,
           0, 0, 'reserved', %(now)s, %(now)s
    FROM spender, total WHERE available >= %(amount)s
    ON CONFLICT (generation_id) DO NOTHING
    RETURNING id
),
taken AS (
    SELECT id AS lot_id, least(remaining, %(amount)s - before) AS part
    FROM live WHERE before < %(amount)s
),
lots_moved AS (
    UPDATE billing_creditlot AS lot
    SET remaining = lot.remaining - taken.part, updated_at = %(now)s
    FROM taken, new_reservation
    WHERE lot.id = taken.lot_id
),
parts AS (
    INSERT INTO billing_reservationpart (reservation_id, lot_id, amount, returned)
    SELECT new_reservation.id, taken.lot_id, taken.part, 0 FROM new_reservation, taken
),
wallet_moved AS (
    UPDATE billing_wallet SET balance = balance - %(amount)s, updated_at = %(now)s
    WHERE id = (SELECT id FROM spender) AND EXISTS (SELECT 1 FROM new_reservation)
    RETURNING balance
),
entry AS (
    INSERT INTO billing_ledgerentry (wallet_id, amount, kind, idempotency_key, balance_after,
                                     created_at, generation_id, credits, stripe_object_id, reason)
    SELECT (SELECT id FROM spender), -%(amount)s, 'reserve', %(key)s, balance, %(now)s,
           %(generation)s, 0, '', ''
    FROM wallet_moved
)
SELECT (SELECT id FROM new_reservation),
       (SELECT balance FROM wallet_moved),
       (SELECT available FROM total),
       (SELECT wallet_id FROM billing_reservation WHERE generation_id = %(generation)s)
"""


def _reserve_in_one_statement(
    *,
    user: Any,
    generation_id: uuid.UUID,
    amount: int,
    api_key: Any,
    size: int | None,
    now: dt.datetime,
) -> Reservation | int | None:
    """The reservation; the live credits there were when too few; None when the user has no
    wallet yet. PostgreSQL only.

    The lock and the statement go to the server together (psycopg's pipeline mode), so the
    wallet stays locked only while the server runs the statement and the commit: no round trip
    to this process in between. The checks the statement cannot make wait for the lock's answer:
    a key's monthly cap sums its reservations, so with a cap the statement is sent after it.
    """
    params = {
        "user": user.pk,
        "generation": generation_id,
        "api_key": getattr(api_key, "pk", None),
        "size": size,
        "amount": amount,
        "now": now,
        "key": f"reserve:{generation_id}",
    }
    capped = getattr(api_key, "monthly_credit_cap", None) is not None
    with _prepared_cursor() as lock, _prepared_cursor() as cursor:
        if capped:
            lock.execute(_LOCK_SQL, params)
            wallet = _wallet_from_row(lock.fetchone())
            if wallet is None:
                return None
            existing = Reservation.objects.filter(generation_id=generation_id).first()
            if existing is not None:
                return _existing_reservation(existing=existing, wallet=wallet)
            _check_spending_allowed(wallet=wallet, amount=amount, api_key=api_key, now=now)
            cursor.execute(_RESERVE_SQL, params)
        else:
            with connection.connection.pipeline():
                lock.execute(_LOCK_SQL, params)
                cursor.execute(_RESERVE_SQL, params)
            wallet = _wallet_from_row(lock.fetchone())
            if wallet is None:
                return None
        reservation_id, balance_after, available, existing_wallet_id = cursor.fetchone()
    if existing_wallet_id is not None:  # reserved before: this is a retry
        return _existing_reservation(
            existing=Reservation.objects.get(generation_id=generation_id), wallet=wallet
        )
    if reservation_id is None:
        _check_spending_allowed(wallet=wallet, amount=amount, api_key=None, now=now)
        return int(available)
    wallet.balance = balance_after
    reservation = Reservation(
        pk=reservation_id,
        wallet=wallet,
        generation_id=generation_id,
        api_key=api_key,
        size=size,
        amount=amount,
        status=Reservation.Status.RESERVED,
        created_at=now,
        updated_at=now,
    )
    reservation._state.adding, reservation._state.db = False, connection.alias  # it is stored
    return reservation


def _wallet_from_row(row: tuple[Any, ...] | None) -> Wallet | None:
    return None if row is None else Wallet.from_db(connection.alias, _LOCK_FIELDS, row)


def _reserve_step_by_step(
    *,
    user: Any,
    generation_id: uuid.UUID,
    amount: int,
    api_key: Any,
    size: int | None,
    now: dt.datetime,
) -> Reservation | int | None:
    """What _reserve_in_one_statement does, through the ORM: for databases other than PostgreSQL
    (the SQLite file of `make run`'s defaults). tests/billing/test_credits.py runs both."""
    wallet = Wallet.objects.select_for_update().filter(user_id=user.pk).first()
    if wallet is None:
        return None
    existing = Reservation.objects.filter(generation_id=generation_id).first()
    if existing is not None:
        return _existing_reservation(existing=existing, wallet=wallet)
    _check_spending_allowed(wallet=wallet, amount=amount, api_key=api_key, now=now)
    lots = lots_live(wallet=wallet, now=now)
    available = sum(lot.remaining for lot in lots)
    if available < amount:
        return available
    reservation = Reservation.objects.create(
        wallet=wallet, generation_id=generation_id, api_key=api_key, size=size, amount=amount
    )
    ReservationPart.objects.bulk_create(
        ReservationPart(reservation=reservation, lot=lot, amount=part)
        for lot, part in lots_take(lots=lots, amount=amount, now=now)
    )
    entry_append(
        wallet=wallet,
        amount=-amount,
        kind=LedgerEntry.Kind.RESERVE,
        key=f"reserve:{generation_id}",
        now=now,
        generation_id=generation_id,
    )
    return reservation


def _check_spending_allowed(*, wallet: Wallet, amount: int, api_key: Any, now: dt.datetime) -> None:
    if wallet.is_frozen:
        raise InsufficientQuota(
            f"{QUOTA_MESSAGE} Spending is paused while a payment dispute on your account is open."
        )
    if wallet.debt > 0:
        raise InsufficientQuota(
            f"{QUOTA_MESSAGE} Your account owes {wallet.debt} credits from a reversed payment; "
            "buy credits to settle it."
        )
    cap = getattr(api_key, "monthly_credit_cap", None)
    if cap is not None:
        # The wallet lock serialises every reservation of this key's owner, so the sum is exact.
        spent = api_key_month_spending(api_key_id=api_key.pk, now=now)
        if spent + amount > cap:
            raise InsufficientQuota(
                f"{QUOTA_MESSAGE} This API key's monthly cap is {cap} credits "
                f"and {spent} are used this month."
            )


def _locked_reservation(*, generation_id: uuid.UUID | str) -> tuple[Wallet, Reservation] | None:
    found = (
        Reservation.objects.filter(generation_id=generation_id)
        .values_list("wallet__user_id", flat=True)
        .first()
    )
    if found is None:
        return None
    wallet = wallet_lock(user_id=found)
    reservation = Reservation.objects.select_for_update().get(generation_id=generation_id)
    return wallet, reservation


def _return_parts(*, reservation: Reservation, amount: int, now: dt.datetime) -> None:
    """Give `amount` held (or spent) credits back to their lots, latest expiry first."""
    left = amount
    parts = reservation.parts.select_related("lot").order_by(
        F("lot__expires_at").desc(nulls_first=True), "-lot_id"
    )
    for part in parts:
        if left == 0:
            break
        back = min(part.amount - part.returned, left)
        if back <= 0:
            continue
        lot_return(lot_id=part.lot_id, amount=back, now=now)
        ReservationPart.objects.filter(pk=part.pk).update(returned=F("returned") + back)
        left -= back


def _release_locked(*, wallet: Wallet, reservation: Reservation, now: dt.datetime) -> None:
    _return_parts(reservation=reservation, amount=reservation.amount, now=now)
    entry_append(
        wallet=wallet,
        amount=reservation.amount,
        kind=LedgerEntry.Kind.RELEASE,
        key=f"release:{reservation.generation_id}",
        now=now,
        generation_id=reservation.generation_id,
    )
    reservation.status = Reservation.Status.RELEASED
    reservation.settled_at = now
    reservation.save(update_fields=["status", "settled_at", "updated_at"])


def credits_capture(*, generation_id: uuid.UUID | str, amount: int) -> Reservation:
    """Spend `amount` of the reservation (images delivered) and release the rest. Idempotent.

    A capture after a release (or a second capture) changes nothing and returns the reservation.
    """
    if not isinstance(amount, int) or amount < 0:
        raise InvalidRequest("A capture must be zero or more credits.", param="amount")
    now = timezone.now()
    with transaction.atomic(durable=True):
        locked = _locked_reservation(generation_id=generation_id)
        if locked is None:
            raise NotFound(f"No credits are reserved for generation {generation_id}.")
        wallet, reservation = locked
        if reservation.status != Reservation.Status.RESERVED:
            return reservation
        if amount > reservation.amount:
            raise InvalidRequest(
                f"Cannot capture {amount} credits: {reservation.amount} are reserved.",
                param="amount",
            )
        if amount == 0:
            _release_locked(wallet=wallet, reservation=reservation, now=now)
            return reservation
        entry_append(
            wallet=wallet,
            amount=0,
            kind=LedgerEntry.Kind.CAPTURE,
            key=f"capture:{reservation.generation_id}",
            now=now,
            generation_id=reservation.generation_id,
            credits=amount,
        )
        rest = reservation.amount - amount
        if rest:
            _return_parts(reservation=reservation, amount=rest, now=now)
            entry_append(
                wallet=wallet,
                amount=rest,
                kind=LedgerEntry.Kind.RELEASE,
                key=f"release:{reservation.generation_id}",
                now=now,
                generation_id=reservation.generation_id,
            )
        reservation.status = Reservation.Status.CAPTURED
        reservation.captured = amount
        reservation.settled_at = now
        reservation.save(update_fields=["status", "captured", "settled_at", "updated_at"])
    return reservation


def credits_release(*, generation_id: uuid.UUID | str) -> Reservation | None:
    """Release all not captured (failed, withheld, canceled). Idempotent; None if never reserved."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        locked = _locked_reservation(generation_id=generation_id)
        if locked is None:
            return None
        wallet, reservation = locked
        if reservation.status == Reservation.Status.RESERVED:
            _release_locked(wallet=wallet, reservation=reservation, now=now)
    return reservation


def credits_refund_image(
    *, generation_id: uuid.UUID | str, image_id: uuid.UUID | str, amount: int, reason: str
) -> LedgerEntry | None:
    """Give back what one image of a generation cost (its removal was overturned), never more
    than the generation has left to refund. Idempotent per image: the entry's key is
    `refund-image:<image id>`, so a retried call, or a second case about the same image, refunds
    once. None when the generation was never charged or nothing is left to give back.
    """
    if not isinstance(amount, int) or amount <= 0:
        raise InvalidRequest("A refund must be a positive number of credits.", param="amount")
    if not reason.strip():
        raise InvalidRequest("A refund needs a reason.", param="reason")
    key = image_refund_key(image_id=image_id)
    now = timezone.now()
    with transaction.atomic(durable=True):
        locked = _locked_reservation(generation_id=generation_id)
        if locked is None:
            return None
        wallet, reservation = locked
        existing = LedgerEntry.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        back = min(amount, reservation.captured - reservation.refunded)
        if reservation.status != Reservation.Status.CAPTURED or back <= 0:
            return None
        _return_parts(reservation=reservation, amount=back, now=now)
        entry = entry_append(
            wallet=wallet,
            amount=back,
            kind=LedgerEntry.Kind.REFUND,
            key=key,
            now=now,
            generation_id=reservation.generation_id,
            reason=reason.strip()[:500],
        )
        Reservation.objects.filter(pk=reservation.pk).update(
            refunded=F("refunded") + back, updated_at=now
        )
    return entry


def reservations_sweep(*, now: dt.datetime | None = None) -> int:
    """Release reservations older than BILLING_RESERVATION_TIMEOUT (a lost task).."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=settings.BILLING_RESERVATION_TIMEOUT)
    stale = Reservation.objects.filter(status=Reservation.Status.RESERVED, created_at__lt=cutoff)
    released = 0
    for generation_id in stale.values_list("generation_id", flat=True).iterator():
        reservation = credits_release(generation_id=generation_id)
        if (
            reservation is not None
            and reservation.settled_at is not None
            and reservation.settled_at >= now
        ):
            released += 1
    if released:
        logger.warning("released %s stale credit reservations", released)
    return released


# --- expiry, staff adjustments, account deletion ---------------------------------------------


def lots_expire(*, now: dt.datetime | None = None) -> int:
    """Write an expiry entry for every lot past its date with credits left. Run by Celery beat."""
    now = now or timezone.now()
    user_ids = (
        CreditLot.objects.filter(remaining__gt=0, expires_at__lte=now)
        .values_list("wallet__user_id", flat=True)
        .distinct()
    )
    expired = 0
    for user_id in list(user_ids):
        with transaction.atomic(durable=True):
            wallet = wallet_lock(user_id=user_id)
            for lot in CreditLot.objects.filter(
                wallet=wallet, remaining__gt=0, expires_at__lte=now
            ):
                lot_expire(wallet=wallet, lot=lot, now=now)
                expired += 1
    return expired


def credits_adjust(
    *,
    user: Any,
    amount: int,
    actor: Any,
    reason: str,
    expires_at: dt.datetime | None = None,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """A staff grant (positive) or debit (negative), naming the staff member and why."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidRequest("An adjustment needs a reason.", param="reason")
    if len(reason) > REASON_MAX:
        raise InvalidRequest(f"Keep the reason under {REASON_MAX} characters.", param="reason")
    if not getattr(actor, "is_staff", False):
        raise PermissionDenied("Only staff can adjust credits.")
    if not isinstance(amount, int) or amount == 0:
        raise InvalidRequest(
            "An adjustment must be a non-zero whole number of credits.", param="amount"
        )
    if abs(amount) > MAX_ADJUSTMENT:
        raise InvalidRequest(
            f"An adjustment is at most {MAX_ADJUSTMENT:,} credits either way.", param="amount"
        )
    wallet_get_or_create(user=user)
    key = idempotency_key or f"adjustment:{uuid.uuid4()}"
    now = timezone.now()
    with transaction.atomic(durable=True):
        wallet = wallet_lock(user_id=user.pk)
        existing = LedgerEntry.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        references = {"actor": actor, "reason": reason}
        if amount > 0:
            lot = lot_grant(
                wallet=wallet,
                amount=amount,
                kind=LedgerEntry.Kind.ADJUSTMENT,
                source=CreditLot.Source.ADJUSTMENT,
                key=key,
                now=now,
                expires_at=expires_at,
                **references,
            )
            assert lot is not None
            return LedgerEntry.objects.get(idempotency_key=key)
        lots = lots_spendable(wallet=wallet, now=now)
        if wallet.balance < -amount:
            raise InvalidRequest(
                f"Cannot take {-amount} credits: the balance is {wallet.balance}.", param="amount"
            )
        lots_take(lots=lots, amount=-amount, now=now)
        return entry_append(
            wallet=wallet,
            amount=amount,
            kind=LedgerEntry.Kind.ADJUSTMENT,
            key=key,
            now=now,
            **references,
        )


def wallet_close_for_deleted_user(*, user: Any) -> None:
    """Account deletion: release held credits and expire the rest. Ledger rows stay.

    Runs inside accounts' deletion transaction (hence not durable). Entries hold no personal
    data (ids, Stripe object ids, staff reasons), so nothing in them needs rewriting.
    """
    now = timezone.now()
    with transaction.atomic():
        wallet = Wallet.objects.select_for_update().filter(user=user).first()
        if wallet is None:
            return
        for reservation in Reservation.objects.select_for_update().filter(
            wallet=wallet, status=Reservation.Status.RESERVED
        ):
            _release_locked(wallet=wallet, reservation=reservation, now=now)
        for lot in CreditLot.objects.filter(wallet=wallet, remaining__gt=0):
            lot_expire(wallet=wallet, lot=lot, now=now, reason="Account deleted")
        if wallet.stripe_subscription_id and wallet.subscription_status not in ("", "canceled"):
            # A deleted account must not be billed again: cancel at Stripe once the deletion
            # commits (a task, retried, because Stripe may be briefly unreachable).

            subscription_id = wallet.stripe_subscription_id
            transaction.on_commit(lambda: stripe_subscription_cancel_task.delay(subscription_id))
            wallet.subscription_status = "canceled"
            wallet.save(update_fields=["subscription_status", "updated_at"])
