"""Reads of the billing app: prices, balances, lots, history and usage."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import CharField, Count, F, Max, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat, TruncDate
from django.utils import timezone

from billing.models import CreditLot, LedgerEntry, Payment, Reservation, StripeEvent, Wallet
from billing.stripe_client import StripeClient
from common.errors import InvalidRequest


def image_price(*, pixels: int) -> int:
    """Credits for one image of `pixels` (width x height), by settings.BILLING_IMAGE_PRICES
    (square side -> credits): the price of the smallest listed square holding that many pixels;
    past the largest, its price per pixel, rounded up."""
    prices: dict[int, int] = settings.BILLING_IMAGE_PRICES
    if not isinstance(pixels, int) or isinstance(pixels, bool) or pixels < 1:
        raise InvalidRequest(f"'{pixels}' is not a number of pixels.", param="size")
    for side in sorted(prices):
        if pixels <= side * side:
            return prices[side]
    largest = max(prices)
    return math.ceil(prices[largest] * pixels / (largest * largest))


def generation_cost(*, pixels: int, n: int) -> int:
    """Credits a generation of `n` images of `pixels` each reserves up front."""
    return image_price(pixels=pixels) * n


def image_refund_key(*, image_id: uuid.UUID | str) -> str:
    """The ledger key of the refund of one image (an overturned removal): one per image."""
    return f"refund-image:{image_id}"


def image_refunded(*, image_id: uuid.UUID | str) -> int:
    """Credits given back for this image after a review; 0 when none were."""
    entry = LedgerEntry.objects.filter(idempotency_key=image_refund_key(image_id=image_id)).first()
    return entry.amount if entry is not None else 0


def price_table() -> list[dict[str, int]]:
    return [
        {"size": size, "credits": credits}
        for size, credits in sorted(settings.BILLING_IMAGE_PRICES.items())
    ]


def wallet_for_user(*, user: Any) -> Wallet | None:
    return Wallet.objects.filter(user=user).first()


def open_lots(*, wallet: Wallet) -> QuerySet[CreditLot]:
    """Lots with credits left, in the order spending takes them: soonest expiry first."""
    return wallet.lots.filter(remaining__gt=0).order_by(F("expires_at").asc(nulls_last=True), "id")


@dataclass(frozen=True)
class BalanceSummary:
    balance: int
    reserved: int
    debt: int
    frozen: bool
    lots: list[CreditLot]


def balance_summary(*, user: Any) -> BalanceSummary:
    wallet = wallet_for_user(user=user)
    if wallet is None:
        return BalanceSummary(balance=0, reserved=0, debt=0, frozen=False, lots=[])
    reserved = (
        wallet.reservations.filter(status=Reservation.Status.RESERVED).aggregate(
            total=Sum("amount")
        )["total"]
        or 0
    )
    return BalanceSummary(
        balance=wallet.balance,
        reserved=reserved,
        debt=wallet.debt,
        frozen=wallet.is_frozen,
        lots=list(open_lots(wallet=wallet)),
    )


def lot_labels(*, lots: list[CreditLot]) -> dict[int, str]:
    """What each lot is called on the billing page: its source, or for free credits the grant
    that made it ("Sign-up credits", "Free credits for May 2026")."""
    labels = {lot.pk: str(lot.get_source_display()) for lot in lots}
    free = [lot.pk for lot in lots if lot.source == CreditLot.Source.FREE]
    grants = LedgerEntry.objects.filter(lot_id__in=free, kind=LedgerEntry.Kind.GRANT).exclude(
        reason=""
    )
    for lot_id, reason in grants.values_list("lot_id", "reason"):
        labels[lot_id] = reason
    return labels


def ledger_entries(
    *,
    user: Any,
    kinds: list[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> QuerySet[LedgerEntry]:
    """A user's ledger, newest first, optionally filtered by kind and by date (inclusive, UTC)."""
    entries = LedgerEntry.objects.filter(wallet__user=user).select_related("lot", "actor")
    if kinds:
        entries = entries.filter(kind__in=kinds)
    if since:
        entries = entries.filter(created_at__date__gte=since)
    if until:
        entries = entries.filter(created_at__date__lte=until)
    return entries.order_by("-created_at", "-id")


def credits_text(count: int) -> str:
    """ "1 credit", "4 credits"."""
    return f"{count:,} credit{'' if abs(count) == 1 else 's'}"


def entry_description(*, entry: LedgerEntry) -> str:
    """What a person reads in their history for one entry."""
    kind = LedgerEntry.Kind(entry.kind)
    if entry.kind in (LedgerEntry.Kind.RESERVE, LedgerEntry.Kind.CAPTURE, LedgerEntry.Kind.RELEASE):
        text = f"{kind.label} {entry.generation_id}"
        if entry.kind == LedgerEntry.Kind.CAPTURE:
            text = f"{credits_text(entry.credits)} spent on generation {entry.generation_id}"
        return text
    if entry.kind == LedgerEntry.Kind.ADJUSTMENT:
        return f"Adjustment by staff: {entry.reason}"
    if entry.kind == LedgerEntry.Kind.GRANT and entry.reason:
        return entry.reason  # "Sign-up credits", "Free credits for May 2026"
    if entry.reason:
        return f"{kind.label}: {entry.reason}"
    return str(kind.label)


# --- the history page: one row per generation ------------------------------------------------

GENERATION_KINDS = (
    LedgerEntry.Kind.RESERVE,
    LedgerEntry.Kind.CAPTURE,
    LedgerEntry.Kind.RELEASE,
    LedgerEntry.Kind.REFUND,
)


@dataclass(frozen=True)
class HistoryRow:
    at: dt.datetime  # the latest entry's time
    description: str
    amount: int  # the net change of the balance
    balance_after: int  # after the latest entry
    generation_id: uuid.UUID | None = None
    receipt_url: str = ""


def ledger_history(*, user: Any) -> QuerySet[Any, Any]:
    """A user's ledger as a person reads it, newest first: one group per generation (its hold,
    charge, return and any refund together) and one per other entry. Each group is a dict with
    `last_id`; pass a page of them to `ledger_history_rows`."""
    group = Coalesce(
        Cast("generation_id", output_field=CharField()),
        Concat(Value("entry:"), Cast("id", output_field=CharField())),
        output_field=CharField(),
    )
    return (
        LedgerEntry.objects.filter(wallet__user=user)
        .annotate(group=group)
        .values("group")
        .annotate(last_id=Max("id"), last_at=Max("created_at"))
        .order_by("-last_at", "-last_id")
    )


def ledger_history_rows(*, user: Any, groups: list[dict[str, Any]]) -> list[HistoryRow]:
    """The rows of one page of `ledger_history` groups."""
    last = {
        entry.pk: entry
        for entry in LedgerEntry.objects.filter(
            wallet__user=user, pk__in=[g["last_id"] for g in groups]
        )
    }
    generation_ids = {entry.generation_id for entry in last.values() if entry.generation_id}
    by_generation: dict[uuid.UUID, list[LedgerEntry]] = {}
    for entry in LedgerEntry.objects.filter(
        wallet__user=user, generation_id__in=generation_ids
    ).order_by("id"):
        by_generation.setdefault(entry.generation_id, []).append(entry)  # type: ignore[arg-type]
    receipts = receipts_for_entries(entries=list(last.values()))
    rows = []
    for group in groups:
        entry = last[group["last_id"]]
        if entry.generation_id is not None:
            entries = by_generation.get(entry.generation_id, [entry])
            rows.append(
                HistoryRow(
                    at=entry.created_at,
                    description=_generation_description(entries),
                    amount=sum(item.amount for item in entries),
                    balance_after=entry.balance_after,
                    generation_id=entry.generation_id,
                )
            )
        else:
            rows.append(
                HistoryRow(
                    at=entry.created_at,
                    description=entry_description(entry=entry),
                    amount=entry.amount,
                    balance_after=entry.balance_after,
                    receipt_url=receipts.get(entry.stripe_object_id, ""),
                )
            )
    return rows


def _generation_description(entries: list[LedgerEntry]) -> str:
    kinds = {entry.kind for entry in entries}
    spent = sum(entry.credits for entry in entries if entry.kind == LedgerEntry.Kind.CAPTURE)
    refunded = sum(entry.amount for entry in entries if entry.kind == LedgerEntry.Kind.REFUND)
    if LedgerEntry.Kind.CAPTURE in kinds:
        text = f"Generation: {credits_text(spent)} spent"
    elif LedgerEntry.Kind.RELEASE in kinds:
        text = "Generation: nothing charged, the held credits were returned"
    else:
        held = -sum(entry.amount for entry in entries)
        text = f"Generation in progress: {credits_text(held)} held"
    if refunded:
        text += f", {credits_text(refunded)} refunded"
    return text


def receipts_for_entries(*, entries: list[LedgerEntry]) -> dict[str, str]:
    """Stripe receipt (or hosted invoice) links by Stripe object id, for one page of entries."""
    ids = {entry.stripe_object_id for entry in entries if entry.stripe_object_id}
    if not ids:
        return {}
    links = {}
    for payment in Payment.objects.filter(Q(checkout_session_id__in=ids) | Q(invoice_id__in=ids)):
        key = (
            payment.checkout_session_id
            if payment.checkout_session_id in ids
            else payment.invoice_id
        )
        if key and payment.receipt_url:
            links[key] = payment.receipt_url
    return links


def month_start(moment: dt.datetime) -> dt.datetime:
    moment = timezone.localtime(moment, dt.UTC)
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def api_key_month_spending(*, api_key_id: int, now: dt.datetime | None = None) -> int:
    """Credits spent or held through one key since the start of this month (UTC)."""
    start = month_start(now or timezone.now())
    totals = Reservation.objects.filter(api_key_id=api_key_id, created_at__gte=start).aggregate(
        held=Sum("amount", filter=Q(status=Reservation.Status.RESERVED)),
        spent=Sum(F("captured") - F("refunded"), filter=Q(status=Reservation.Status.CAPTURED)),
    )
    return (totals["held"] or 0) + (totals["spent"] or 0)


def usage_summary(*, user: Any, since: dt.date, until: dt.date) -> dict[str, Any]:
    """Credits spent and images paid for, per day, per API key and per size: ready for a chart.

    Counts settled spending (captured less refunded) of generations started in the range.
    Every day of the range is present, with zeros, so a chart needs no gap filling.
    """
    if until < since:
        raise InvalidRequest("'until' is before 'since'.", param="until")
    if (until - since).days > 366:
        raise InvalidRequest("Ask for at most 366 days at a time.", param="since")
    settled = Reservation.objects.filter(
        wallet__user=user,
        status=Reservation.Status.CAPTURED,
        created_at__date__gte=since,
        created_at__date__lte=until,
    ).annotate(spent_credits=F("captured") - F("refunded"))
    by_day_rows = {
        row["day"]: row
        for row in settled.annotate(day=TruncDate("created_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(credits=Sum("spent_credits"), generations=Count("id"))
    }
    days = []
    day = since
    while day <= until:
        row = by_day_rows.get(day)
        days.append(
            {
                "date": day.isoformat(),
                "credits": row["credits"] if row else 0,
                "generations": row["generations"] if row else 0,
            }
        )
        day += dt.timedelta(days=1)
    by_key = [
        {
            "api_key": row["api_key__prefix"] or None,
            "name": row["api_key__name"] or ("web" if row["api_key__prefix"] is None else ""),
            "credits": row["credits"],
            "generations": row["generations"],
        }
        for row in settled.values("api_key__prefix", "api_key__name")
        .annotate(credits=Sum("spent_credits"), generations=Count("id"))
        .order_by("-credits")
    ]
    by_size = [
        {"size": row["size"], "credits": row["credits"], "generations": row["generations"]}
        for row in settled.values("size")
        .annotate(credits=Sum("spent_credits"), generations=Count("id"))
        .order_by("size")
    ]
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "total_credits": sum(d["credits"] for d in days),
        "by_day": days,
        "by_api_key": by_key,
        "by_size": by_size,
    }


@dataclass(frozen=True)
class WalletMismatch:
    wallet_id: int
    user_id: int
    balance: int
    entries_total: int
    lots_total: int


def wallet_mismatches() -> list[WalletMismatch]:
    """Wallets whose cached balance differs from the sum of their entries or of their lots."""
    entry_totals = dict(
        LedgerEntry.objects.values("wallet_id")
        .annotate(t=Sum("amount"))
        .values_list("wallet_id", "t")
    )
    lot_totals = dict(
        CreditLot.objects.values("wallet_id")
        .annotate(t=Sum("remaining"))
        .values_list("wallet_id", "t")
    )
    found = []
    for wallet_id, user_id, balance in Wallet.objects.values_list(
        "id", "user_id", "balance"
    ).order_by("id"):
        entries_total = entry_totals.get(wallet_id) or 0
        lots_total = lot_totals.get(wallet_id) or 0
        if balance != entries_total or balance != lots_total:
            found.append(WalletMismatch(wallet_id, user_id, balance, entries_total, lots_total))
    return found


def payment_mismatches() -> list[str]:
    """Paid Stripe payments without exactly their grant, and grants without a paid payment."""
    problems = []
    granted = {
        key: total
        for key, total in LedgerEntry.objects.filter(
            kind__in=[LedgerEntry.Kind.PURCHASE, LedgerEntry.Kind.SUBSCRIPTION]
        )
        .values("stripe_object_id")
        .annotate(total=Sum("amount"))
        .values_list("stripe_object_id", "total")
    }
    for payment in Payment.objects.filter(
        status__in=[Payment.Status.PAID, Payment.Status.REFUNDED]
    ):
        key = (
            payment.checkout_session_id if payment.kind == Payment.Kind.PACK else payment.invoice_id
        )
        got = granted.pop(key or "", None) or 0
        if got != payment.credits:
            problems.append(f"payment {key}: paid for {payment.credits} credits, granted {got}")
    for key, total in granted.items():
        problems.append(f"grant {key}: {total} credits with no paid payment")
    return problems


@dataclass(frozen=True)
class ReservationsOpen:
    count: int
    credits: int
    oldest_age_seconds: float


def reservations_open_summary() -> ReservationsOpen:
    """Credits held for jobs not yet settled (metrics: a rising line means settles are stuck)."""
    summary = Reservation.objects.filter(status=Reservation.Status.RESERVED).aggregate(
        count=Count("id"), credits=Sum("amount"), oldest=Min("created_at")
    )
    oldest = summary["oldest"]
    age = max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0
    return ReservationsOpen(
        count=summary["count"], credits=summary["credits"] or 0, oldest_age_seconds=age
    )


def _payment_key(payment: Payment) -> str:
    return (
        payment.checkout_session_id if payment.kind == Payment.Kind.PACK else payment.invoice_id
    ) or f"#{payment.pk}"


def payment_lot_credits(*, payment: Payment) -> int:
    """Credits of this payment still unspent in lots: its own lots, and any lot a dispute of it
    restored (found through the restoring entry, for lots restored before they named their
    payment)."""
    dispute_ids = list(payment.disputes.values_list("stripe_dispute_id", flat=True))
    restored = LedgerEntry.objects.filter(
        kind=LedgerEntry.Kind.CHARGEBACK,
        stripe_object_id__in=dispute_ids,
        amount__gt=0,
        lot__isnull=False,
    ).values("lot_id")
    lots = CreditLot.objects.filter(Q(payment=payment) | Q(pk__in=restored))
    return lots.aggregate(total=Sum("remaining"))["total"] or 0


def payment_reversal_mismatches() -> list[str]:
    """Refunded or disputed payments whose credits the ledger did not take back as it should:
    after a refund at most the unrefunded share may remain unspent; while a dispute is open or
    once it is lost, none."""
    problems = []
    touched = Payment.objects.filter(
        Q(refunded_cents__gt=0) | Q(disputes__isnull=False),
        status__in=[Payment.Status.PAID, Payment.Status.REFUNDED],
    ).distinct()
    for payment in touched.order_by("pk"):
        unspent = payment_lot_credits(payment=payment)
        reversing = payment.disputes.filter(status__in=["open", "lost"]).order_by("pk").first()
        if reversing is not None:
            if unspent:
                problems.append(
                    f"payment {_payment_key(payment)}: dispute {reversing.stripe_dispute_id} is "
                    f"{reversing.status} but {unspent} of its credits are still unspent"
                )
            continue
        charged = payment.amount_cents or payment.refunded_cents or 1
        owed = min(payment.credits, -(-payment.credits * payment.refunded_cents // charged))
        if unspent > payment.credits - owed:
            problems.append(
                f"payment {_payment_key(payment)}: refunded {payment.refunded_cents} cents "
                f"({owed} credits) but {unspent} of its credits are still unspent "
                f"(at most {payment.credits - owed} may be)"
            )
    return problems


# Easel's dispute states for Stripe's (an inquiry closed without a chargeback is a win).
_STRIPE_DISPUTE_STATES = {"won": "won", "warning_closed": "won", "lost": "lost"}


def payment_stripe_mismatches(*, since: dt.datetime | None = None) -> list[str]:
    """Each payment against what Stripe says happened to it: a checkout Stripe calls paid that
    Easel still has pending, the refunded amount, and every dispute with its state. One or two
    Stripe calls per payment; `since` limits them to payments created from then on."""
    client = StripeClient()
    payments = Payment.objects.exclude(status=Payment.Status.FAILED).order_by("pk")
    if since is not None:
        payments = payments.filter(created_at__gte=since)
    problems = []
    for payment in payments.iterator():
        key = _payment_key(payment)
        if payment.status == Payment.Status.PENDING:
            if payment.checkout_session_id:
                session = client.checkout_session_retrieve(session_id=payment.checkout_session_id)
                if session.get("payment_status") == "paid":
                    problems.append(f"payment {key}: Stripe says paid, Easel has it pending")
            continue
        if not payment.payment_intent_id:
            continue
        intent = client.payment_intent_retrieve(payment_intent_id=payment.payment_intent_id)
        charge = intent.get("latest_charge") or {}
        if isinstance(charge, str):
            charge = client.charge_retrieve(charge_id=charge)
        refunded = int(charge.get("amount_refunded") or 0)
        if refunded != payment.refunded_cents:
            problems.append(
                f"payment {key}: Stripe refunded {refunded} cents, "
                f"Easel recorded {payment.refunded_cents}"
            )
        recorded = dict(payment.disputes.values_list("stripe_dispute_id", "status"))
        for dispute in client.disputes_for_charge(charge_id=charge.get("id") or ""):
            state = _STRIPE_DISPUTE_STATES.get(dispute.get("status") or "", "open")
            if recorded.get(dispute["id"]) != state:
                problems.append(
                    f"payment {key}: Stripe has dispute {dispute['id']} {state}, "
                    f"Easel has {recorded.get(dispute['id']) or 'no record of it'}"
                )
    return problems


def stripe_events_abandoned() -> list[str]:
    """Events that failed every try: what they carry never reached the ledger."""
    return [
        f"Stripe event {event_id} ({event_type}) failed {attempts} times and is not retried"
        for event_id, event_type, attempts in StripeEvent.objects.filter(
            status=StripeEvent.Status.FAILED, next_attempt_at__isnull=True
        )
        .order_by("created_at")
        .values_list("event_id", "type", "attempts")
    ]
