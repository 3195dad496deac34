"""Stripe purchases: Checkout for credit packs and subscriptions, the Customer Portal, and what
each payment event does to the ledger.

Grants are keyed on the Stripe object that was paid for (`purchase:<Checkout Session id>`,
`subscription:<Invoice id>`), never on the event: two events describing one payment grant
once. A Payment's status only moves forward (PENDING -> PAID | FAILED, FAILED -> PAID for an
invoice retried, PAID -> REFUNDED). Event handlers run inside the webhook processing
transaction (billing/services/webhooks.py), which already holds the event row; they take the
wallet lock themselves, after any call to Stripe, so no lock waits on the network.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from accounts.models import DEFAULT_TIER_NAME, Tier, User
from accounts.services.users import user_set_tier
from billing.models import CreditLot, Dispute, LedgerEntry, Payment, Wallet
from billing.services.credits import add_months, wallet_get_or_create
from billing.services.ledger import entry_append, lot_grant, lots_spendable, lots_take, wallet_lock
from billing.stripe_client import StripeClient
from common.errors import Conflict, InvalidRequest
from common.site import site_url

logger = logging.getLogger(__name__)

FORWARD = {
    Payment.Status.PENDING: {Payment.Status.PAID, Payment.Status.FAILED},
    Payment.Status.FAILED: {Payment.Status.PAID},  # invoices only: Stripe retries the card
    Payment.Status.PAID: {Payment.Status.REFUNDED},
    Payment.Status.REFUNDED: {Payment.Status.REFUNDED},  # a second partial refund
}
# Subscription states after which the customer no longer has the paid tier.
ENDED_SUBSCRIPTION_STATES = {"canceled", "unpaid", "incomplete_expired"}


@dataclass(frozen=True)
class CheckoutStart:
    session_id: str
    url: str


def _from_timestamp(value: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, tz=dt.UTC) if value else None


# --- starting a purchase (web requests) --------------------------------------------------------


def stripe_customer_get_or_create(*, user: Any, client: StripeClient) -> str:
    """The user's one Stripe Customer. Created outside any lock: it is a network call."""
    wallet = wallet_get_or_create(user=user)
    if wallet.stripe_customer_id:
        return wallet.stripe_customer_id
    customer = client.customer_create(email=user.email, user_id=user.pk)
    # Conditional update: the first writer wins; Stripe's idempotency key gave both the same id.
    Wallet.objects.filter(pk=wallet.pk, stripe_customer_id__isnull=True).update(
        stripe_customer_id=customer["id"]
    )
    wallet.refresh_from_db(fields=["stripe_customer_id"])
    return wallet.stripe_customer_id or customer["id"]


def checkout_pack_start(*, user: Any, pack_id: str | None = None) -> CheckoutStart:
    """A Checkout Session (one-time payment) for a credit pack; the grant waits for the webhook."""
    pack_id = pack_id or settings.BILLING_DEFAULT_PACK
    pack: dict[str, Any] | None = settings.BILLING_CREDIT_PACKS.get(pack_id)
    if pack is None:
        choices = ", ".join(sorted(settings.BILLING_CREDIT_PACKS))
        raise InvalidRequest(
            f"Unknown credit pack '{pack_id}'. Choose one of: {choices}.", param="pack"
        )
    client = StripeClient()
    customer_id = stripe_customer_get_or_create(user=user, client=client)
    session = client.checkout_session_create(
        params={
            "mode": "payment",
            "customer": customer_id,
            "client_reference_id": str(user.pk),
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": pack["currency"],
                        "unit_amount": pack["price_cents"],
                        "product_data": {"name": f"{pack['credits']} Easel credits"},
                    },
                }
            ],
            "metadata": {"user_id": str(user.pk), "pack": pack_id, "credits": str(pack["credits"])},
            "payment_intent_data": {"metadata": {"user_id": str(user.pk), "pack": pack_id}},
            "success_url": site_url(settings.BILLING_CHECKOUT_SUCCESS_PATH),
            "cancel_url": site_url(settings.BILLING_CHECKOUT_CANCEL_PATH),
        }
    )
    Payment.objects.create(
        wallet=wallet_get_or_create(user=user),
        kind=Payment.Kind.PACK,
        pack=pack_id,
        credits=pack["credits"],
        amount_cents=pack["price_cents"],
        currency=pack["currency"],
        checkout_session_id=session["id"],
    )
    return CheckoutStart(session_id=session["id"], url=session["url"])


def tier_price_id(*, tier: Tier) -> str:
    return tier.stripe_price_id or settings.BILLING_STRIPE_PRICE_IDS.get(tier.name, "")


def tier_for_price(*, price_id: str) -> Tier | None:
    tier = Tier.objects.filter(stripe_price_id=price_id).exclude(stripe_price_id="").first()
    if tier is None:
        names = [
            name for name, price in settings.BILLING_STRIPE_PRICE_IDS.items() if price == price_id
        ]
        tier = Tier.objects.filter(name__in=names).first()
    return tier


def checkout_subscription_start(*, user: Any, tier_name: str) -> CheckoutStart:
    """A Checkout Session in subscription mode for a paid tier. Changes go through the Portal."""
    tier = Tier.objects.filter(name=tier_name, is_public=True, monthly_price_cents__gt=0).first()
    if tier is None:
        raise InvalidRequest(f"'{tier_name}' is not a plan you can subscribe to.", param="tier")
    client = StripeClient()
    price_id = tier_price_id(tier=tier)
    if not price_id:
        raise InvalidRequest(f"The {tier.display_name} plan has no Stripe price yet.", param="tier")
    wallet = wallet_get_or_create(user=user)
    if (
        wallet.stripe_subscription_id
        and wallet.subscription_status not in ENDED_SUBSCRIPTION_STATES
    ):
        raise Conflict(
            "You already have a subscription: change or cancel it in the billing portal."
        )
    customer_id = stripe_customer_get_or_create(user=user, client=client)
    session = client.checkout_session_create(
        params={
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(user.pk),
            "line_items": [{"price": price_id, "quantity": 1}],
            "metadata": {"user_id": str(user.pk), "tier": tier.name},
            "subscription_data": {"metadata": {"user_id": str(user.pk), "tier": tier.name}},
            "success_url": site_url(settings.BILLING_CHECKOUT_SUCCESS_PATH),
            "cancel_url": site_url(settings.BILLING_CHECKOUT_CANCEL_PATH),
        }
    )
    return CheckoutStart(session_id=session["id"], url=session["url"])


def portal_session_start(*, user: Any) -> str:
    """The Customer Portal address: upgrades, downgrades, cancellation, invoices, card changes."""
    client = StripeClient()
    customer_id = stripe_customer_get_or_create(user=user, client=client)
    portal = client.portal_session_create(
        customer_id=customer_id, return_url=site_url(settings.BILLING_PORTAL_RETURN_PATH)
    )
    return portal["url"]


def stripe_subscription_cancel(*, subscription_id: str) -> None:
    """Cancel at Stripe now (account deletion): no further invoices. Idempotent at Stripe."""
    StripeClient().subscription_cancel(subscription_id=subscription_id)


# --- helpers for event handlers ------------------------------------------------------------------


def _wallet_for_customer(customer_id: str | None) -> Wallet:
    wallet = Wallet.objects.filter(stripe_customer_id=customer_id).first() if customer_id else None
    if wallet is None:
        # Raised, the event is recorded as failed and can be replayed once the mapping exists.
        raise LookupError(f"no wallet for Stripe customer {customer_id!r}")
    return wallet


def _move(payment: Payment, status: str) -> bool:
    """Move a payment's status forward; False (and no change) for a backward or repeated move."""
    if status not in FORWARD.get(Payment.Status(payment.status), set()):
        return False
    if payment.kind == Payment.Kind.PACK and payment.status == Payment.Status.FAILED:
        return False  # a failed Checkout payment is final; only an invoice is retried
    payment.status = status
    return True


def _lock_payment(**lookup: Any) -> Payment | None:
    return Payment.objects.select_for_update().filter(**lookup).first()


def _receipt(payment_intent_id: str) -> tuple[str, str]:
    """(charge id, receipt url) of a payment intent; blanks when Stripe cannot tell us now."""
    if not payment_intent_id:
        return "", ""
    try:
        intent = StripeClient().payment_intent_retrieve(payment_intent_id=payment_intent_id)
    except Exception:  # noqa: BLE001 - a receipt link is not worth failing a grant over
        logger.warning("could not fetch the receipt of %s", payment_intent_id, exc_info=True)
        return "", ""
    charge = intent.get("latest_charge") or {}
    if isinstance(charge, str):
        return charge, ""
    return charge.get("id", ""), charge.get("receipt_url", "") or ""


def _invoice_subscription_id(invoice: dict[str, Any]) -> str:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return details.get("subscription") or invoice.get("subscription") or ""


def _invoice_price_and_period(invoice: dict[str, Any]) -> tuple[str, int | None]:
    for line in (invoice.get("lines") or {}).get("data", []):
        pricing = (line.get("pricing") or {}).get("price_details") or {}
        price = pricing.get("price") or (line.get("price") or {}).get("id")
        if price:
            return price, (line.get("period") or {}).get("end")
    return "", invoice.get("period_end")


def _invoice_payment_intent(invoice: dict[str, Any]) -> str:
    for item in (invoice.get("payments") or {}).get("data", []):
        intent = (item.get("payment") or {}).get("payment_intent")
        if intent:
            return intent if isinstance(intent, str) else intent.get("id", "")
    intent = invoice.get("payment_intent")
    return intent if isinstance(intent, str) else (intent or {}).get("id", "")


# --- event handlers: credit packs -----------------------------------------------------------------


def pack_payment_complete(*, session: dict[str, Any]) -> None:
    """A Checkout Session for a pack is paid: grant its credits once, keyed on the session."""
    if session.get("payment_status") not in ("paid", "no_payment_required"):
        return  # paid later: checkout.session.async_payment_succeeded completes it
    intent_id = session.get("payment_intent") or ""
    charge_id, receipt_url = _receipt(intent_id)
    now = timezone.now()
    payment = Payment.objects.filter(checkout_session_id=session["id"]).first()
    if payment is None:
        raise LookupError(f"no pending purchase for Checkout Session {session['id']}")
    wallet = wallet_lock(user_id=payment.wallet.user_id)
    payment = _lock_payment(pk=payment.pk)
    assert payment is not None
    if not _move(payment, Payment.Status.PAID):
        return
    lot = lot_grant(
        wallet=wallet,
        amount=payment.credits,
        kind=LedgerEntry.Kind.PURCHASE,
        source=CreditLot.Source.PURCHASE,
        key=f"purchase:{session['id']}",
        now=now,
        expires_at=add_months(now, settings.BILLING_PURCHASE_EXPIRY_MONTHS),
        payment=payment,
        stripe_object_id=session["id"],
        reason=f"{payment.credits} credits pack",
    )
    payment.payment_intent_id = intent_id
    payment.charge_id = charge_id
    payment.receipt_url = receipt_url
    payment.paid_at = now
    payment.save()
    if lot is None:
        logger.error("purchase %s was granted before its payment was marked paid", session["id"])


def pack_payment_failed(*, session: dict[str, Any]) -> None:
    payment = _lock_payment(checkout_session_id=session["id"])
    if payment is not None and _move(payment, Payment.Status.FAILED):
        payment.save(update_fields=["status", "updated_at"])


def checkout_session_completed(session: dict[str, Any]) -> None:
    if session.get("mode") == "subscription":
        subscription_checkout_complete(session=session)
    else:
        pack_payment_complete(session=session)


def checkout_session_async_succeeded(session: dict[str, Any]) -> None:
    if session.get("mode") != "subscription":
        pack_payment_complete(session=session)


def checkout_session_async_failed(session: dict[str, Any]) -> None:
    if session.get("mode") != "subscription":
        pack_payment_failed(session=session)


# --- event handlers: subscriptions ---------------------------------------------------------------


def subscription_checkout_complete(*, session: dict[str, Any]) -> None:
    """Subscription Checkout finished: remember the subscription; grant through its first invoice.

    `invoice.paid` may come before or after this event; both grant through `invoice_grant`,
    keyed on the invoice, so whichever comes second finds the grant done.
    """
    invoice_id = session.get("invoice")
    invoice = None
    if invoice_id and session.get("payment_status") == "paid":
        invoice = StripeClient().invoice_retrieve(
            invoice_id=invoice_id if isinstance(invoice_id, str) else invoice_id["id"]
        )
    wallet = _wallet_for_customer(session.get("customer"))
    subscription_id = session.get("subscription") or ""
    if isinstance(subscription_id, dict):
        subscription_id = subscription_id.get("id", "")
    Wallet.objects.filter(pk=wallet.pk, stripe_subscription_id="").update(
        stripe_subscription_id=subscription_id
    )
    if invoice is not None and invoice.get("status") == "paid":
        invoice_grant(invoice=invoice)


def invoice_grant(*, invoice: dict[str, Any]) -> None:
    """A paid subscription invoice: the period's credits (expiring at period end) and the tier."""
    subscription_id = _invoice_subscription_id(invoice)
    if not subscription_id:
        return  # not a subscription invoice: packs are granted from their Checkout Session
    price_id, period_end = _invoice_price_and_period(invoice)
    tier = tier_for_price(price_id=price_id)
    if tier is None:
        raise LookupError(f"no tier sells Stripe price {price_id!r}")
    wallet = _wallet_for_customer(invoice.get("customer"))
    intent_id = _invoice_payment_intent(invoice)
    now = timezone.now()
    period_end_at = _from_timestamp(period_end) or add_months(now, 1)
    wallet = wallet_lock(user_id=wallet.user_id)
    payment = _lock_payment(invoice_id=invoice["id"])
    if payment is None:
        payment = Payment.objects.create(
            wallet=wallet,
            kind=Payment.Kind.SUBSCRIPTION,
            tier_name=tier.name,
            credits=tier.monthly_credits,
            amount_cents=invoice.get("amount_paid") or 0,
            currency=invoice.get("currency") or "usd",
            invoice_id=invoice["id"],
        )
    if not _move(payment, Payment.Status.PAID):
        return
    # A mid-period plan change bills a proration invoice: it sets the tier, the credits come
    # with the next period's invoice (a Portal upgrade should not double a month's credits).
    grants_credits = invoice.get("billing_reason") != "subscription_update" and payment.credits > 0
    if grants_credits:
        lot_grant(
            wallet=wallet,
            amount=payment.credits,
            kind=LedgerEntry.Kind.SUBSCRIPTION,
            source=CreditLot.Source.SUBSCRIPTION,
            key=f"subscription:{invoice['id']}",
            now=now,
            expires_at=period_end_at,
            payment=payment,
            stripe_object_id=invoice["id"],
            reason=f"{tier.display_name} plan credits",
        )
    else:
        payment.credits = 0
    payment.payment_intent_id = intent_id
    payment.receipt_url = invoice.get("hosted_invoice_url") or ""
    payment.paid_at = now
    payment.save()
    if wallet.subscription_period_end is None or period_end_at >= wallet.subscription_period_end:
        # Only the newest period decides the tier: an old invoice paid late changes nothing.
        Wallet.objects.filter(pk=wallet.pk).update(
            stripe_subscription_id=subscription_id,
            subscription_status="active",
            subscription_period_end=period_end_at,
        )
        _user_tier_set(user_id=wallet.user_id, tier_name=tier.name)


def invoice_paid(invoice: dict[str, Any]) -> None:
    invoice_grant(invoice=invoice)


def invoice_payment_failed(invoice: dict[str, Any]) -> None:
    """Stripe retries the card; the customer keeps the tier until the subscription ends."""
    if not _invoice_subscription_id(invoice):
        return
    wallet = _wallet_for_customer(invoice.get("customer"))
    Wallet.objects.filter(pk=wallet.pk).update(subscription_status="past_due")


def _user_tier_set(*, user_id: int, tier_name: str) -> None:

    user_set_tier(user=User.objects.get(pk=user_id), tier_name=tier_name)


def subscription_updated(subscription: dict[str, Any]) -> None:
    """Portal changes. Upgrades apply now; downgrades wait for the next period's invoice."""
    wallet = _wallet_for_customer(subscription.get("customer"))
    status = subscription.get("status", "")
    items = (subscription.get("items") or {}).get("data", [])
    price_id = ((items[0].get("price") or {}).get("id") if items else "") or ""
    period_end = (items[0].get("current_period_end") if items else None) or subscription.get(
        "current_period_end"
    )
    Wallet.objects.filter(pk=wallet.pk).update(
        stripe_subscription_id=subscription["id"],
        subscription_status=status,
        subscription_cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
    )
    if status in ENDED_SUBSCRIPTION_STATES:
        _user_tier_set(user_id=wallet.user_id, tier_name=DEFAULT_TIER_NAME)
        return
    tier = tier_for_price(price_id=price_id) if price_id else None
    current = wallet.user.tier
    if (
        tier is not None
        and status == "active"
        and tier.monthly_price_cents > current.monthly_price_cents
    ):
        _user_tier_set(user_id=wallet.user_id, tier_name=tier.name)
    if period_end:
        Wallet.objects.filter(pk=wallet.pk).update(
            subscription_period_end=_from_timestamp(period_end)
        )


def subscription_deleted(subscription: dict[str, Any]) -> None:
    """The subscription ended (at period end after a cancellation): back to the free tier."""
    wallet = _wallet_for_customer(subscription.get("customer"))
    if wallet.stripe_subscription_id not in ("", subscription["id"]):
        return  # an older subscription ending says nothing about the current one
    Wallet.objects.filter(pk=wallet.pk).update(
        subscription_status="canceled", subscription_cancel_at_period_end=False
    )
    _user_tier_set(user_id=wallet.user_id, tier_name=DEFAULT_TIER_NAME)


# --- event handlers: refunds and disputes ---------------------------------------------------------
#
# Stripe sends events in no guaranteed order, and a refund or a dispute can arrive before the
# Checkout completion that Easel grants from. So each handler first finds the payment, asking
# Stripe when Easel has not recorded the charge yet (and completing the payment from what Stripe
# says), then records the fact it carries (the refunded amount, a dispute's state: both only move
# forward), then brings the credits taken back to what all the facts together call for
# (`_reversal_settle`). The end state depends on the facts, never on the order they came in.

DISPUTE_WON_STATES = {"won", "warning_closed"}  # an inquiry closed without a chargeback: no loss


def _payment_for_charge(
    *, charge_id: str, payment_intent_id: str, invoice_id: str
) -> Payment | None:
    payment = Payment.objects.filter(charge_id=charge_id).first() if charge_id else None
    if payment is None and payment_intent_id:
        payment = Payment.objects.filter(payment_intent_id=payment_intent_id).first()
    if payment is None and invoice_id:
        payment = Payment.objects.filter(invoice_id=invoice_id).first()
    return payment


def _payment_resolve(
    *, charge_id: str, payment_intent_id: str, invoice_id: str = ""
) -> Payment | None:
    """The Easel payment a charge paid for; None when it is not Easel's.

    When Easel has not recorded the charge (its completion event is late), Stripe says which
    Checkout Session or invoice it paid, and that payment is completed now, as its own event
    would complete it (idempotent: the later event finds it paid).
    """
    found = _payment_for_charge(
        charge_id=charge_id, payment_intent_id=payment_intent_id, invoice_id=invoice_id
    )
    if found is not None and found.status != Payment.Status.PENDING:
        return found
    client = StripeClient()
    if payment_intent_id:
        session = client.checkout_session_for_payment_intent(payment_intent_id=payment_intent_id)
        if (
            session is not None
            and Payment.objects.filter(checkout_session_id=session["id"]).exists()
        ):
            pack_payment_complete(session=session)
            return Payment.objects.get(checkout_session_id=session["id"])
    if not invoice_id and charge_id:
        invoice_id = _object_id(client.charge_retrieve(charge_id=charge_id).get("invoice"))
    if invoice_id:
        invoice_grant(invoice=client.invoice_retrieve(invoice_id=invoice_id))
        return Payment.objects.filter(invoice_id=invoice_id).first()
    return found


def _object_id(value: Any) -> str:
    """Stripe gives a related object as its id, or expanded as a dict."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _take_back(
    *, wallet: Wallet, payment: Payment, amount: int, now: dt.datetime, only_own_lots: bool
) -> int:
    """Take up to `amount` unspent credits, the payment's own lots first. Returns what was taken."""
    lots = lots_spendable(wallet=wallet, now=now)
    own = [lot for lot in lots if lot.payment_id == payment.pk]
    ordered = own if only_own_lots else own + [lot for lot in lots if lot.payment_id != payment.pk]
    available = sum(lot.remaining for lot in ordered)
    taken = min(amount, available)
    if taken:
        lots_take(lots=ordered, amount=taken, now=now)
    return taken


def _refund_share(payment: Payment) -> int:
    """Credits whose money Stripe gave back: the refunded share of the payment, rounded up."""
    if payment.refunded_cents <= 0:
        return 0
    charged = payment.amount_cents or payment.refunded_cents
    return min(payment.credits, math.ceil(payment.credits * payment.refunded_cents / charged))


def _reversal_key(payment: Payment) -> str:
    """A new key for each move of this payment's take-backs (the counters say what is due, so a
    move never repeats; the key keeps the ledger's unique-key guarantee for each one)."""
    prefix = f"reversal:{payment.pk}:"
    moves = LedgerEntry.objects.filter(idempotency_key__startswith=prefix).count()
    return f"{prefix}{moves + 1}"


def _reversal_settle(*, wallet: Wallet, payment: Payment, now: dt.datetime, cause: str) -> None:
    """Take back (or give back) credits so the payment's take-backs match its facts.

    While a dispute is open, or once it is lost, the whole purchase is reversed: its unspent
    credits are taken from any lot (the payment's own first) and what was already spent becomes
    debt. Otherwise (no dispute, or only won ones) only the refunded share is taken back, and
    only from credits still unspent in the payment's own lots: spent credits are not a debt. A
    won dispute therefore gives back what it took beyond the refund, and forgives the debt it
    recorded (what new credits already paid of it comes back too), as a restored lot of this
    payment, so a later refund takes it back like the rest of the purchase.

    Called under the wallet lock, with the payment row locked; saves neither row.
    """
    disputed = payment.disputes.filter(
        status__in=[Dispute.Status.OPEN, Dispute.Status.LOST]
    ).exists()
    if disputed:
        due = payment.credits - payment.credits_taken_back - payment.debt_recorded
        if due <= 0:
            return
        taken = _take_back(wallet=wallet, payment=payment, amount=due, now=now, only_own_lots=False)
        debt = due - taken
        if debt:
            Wallet.objects.filter(pk=wallet.pk).update(debt=F("debt") + debt)
            wallet.debt += debt
        entry_append(
            wallet=wallet,
            amount=-taken,
            kind=LedgerEntry.Kind.CHARGEBACK,
            key=_reversal_key(payment),
            now=now,
            stripe_object_id=cause,
            reason=f"Payment disputed: {taken} credits taken back, {debt} owed",
        )
        payment.credits_taken_back += taken
        payment.debt_recorded += debt
        return
    owed = _refund_share(payment)
    paid_off = 0
    if payment.debt_recorded:
        forgiven = min(wallet.debt, payment.debt_recorded)
        Wallet.objects.filter(pk=wallet.pk).update(debt=F("debt") - forgiven)
        wallet.debt -= forgiven
        paid_off = payment.debt_recorded - forgiven
        payment.debt_recorded = 0
    excess = max(payment.credits_taken_back - owed, 0)
    if excess + paid_off:
        lot_grant(
            wallet=wallet,
            amount=excess + paid_off,
            kind=LedgerEntry.Kind.CHARGEBACK,
            source=CreditLot.Source.RESTORED,
            key=_reversal_key(payment),
            now=now,
            expires_at=add_months(now, settings.BILLING_PURCHASE_EXPIRY_MONTHS),
            payment=payment,
            stripe_object_id=cause,
            reason="Dispute closed in your favour: credits restored",
        )
        payment.credits_taken_back -= excess
    if payment.credits_taken_back < owed:
        taken = _take_back(
            wallet=wallet,
            payment=payment,
            amount=owed - payment.credits_taken_back,
            now=now,
            only_own_lots=True,
        )
        if taken:
            entry_append(
                wallet=wallet,
                amount=-taken,
                kind=LedgerEntry.Kind.REFUND,
                key=_reversal_key(payment),
                now=now,
                stripe_object_id=cause,
                reason=f"Payment refunded ({payment.refunded_cents / 100:.2f} "
                f"{payment.currency.upper()}); {taken} unspent credits taken back",
            )
            payment.credits_taken_back += taken


def charge_refunded(charge: dict[str, Any]) -> None:
    """A refund: record the refunded amount (it only grows), then settle the take-backs."""
    payment = _payment_resolve(
        charge_id=charge.get("id") or "",
        payment_intent_id=_object_id(charge.get("payment_intent")),
        invoice_id=_object_id(charge.get("invoice")),
    )
    if payment is None:
        logger.info("refund of charge %s matches no Easel payment", charge.get("id"))
        return
    now = timezone.now()
    wallet = wallet_lock(user_id=payment.wallet.user_id)
    payment = _lock_payment(pk=payment.pk)
    assert payment is not None
    refunded_cents = int(charge.get("amount_refunded") or 0)
    if refunded_cents > payment.refunded_cents and _move(payment, Payment.Status.REFUNDED):
        payment.refunded_cents = refunded_cents
    _reversal_settle(wallet=wallet, payment=payment, now=now, cause=charge["id"])
    payment.save()


def dispute_changed(dispute: dict[str, Any]) -> None:
    """A chargeback opened, changed or closed: record its state (open -> won | lost, only
    forward; a close that comes before its opening records it closed), freeze the wallet while
    any dispute is open, then settle the take-backs."""
    payment = _payment_resolve(
        charge_id=_object_id(dispute.get("charge")),
        payment_intent_id=_object_id(dispute.get("payment_intent")),
    )
    if payment is None:
        logger.info("dispute %s matches no Easel payment", dispute.get("id"))
        return
    now = timezone.now()
    wallet = wallet_lock(user_id=payment.wallet.user_id)
    payment = _lock_payment(pk=payment.pk)
    assert payment is not None
    state = _dispute_state(dispute)
    record = Dispute.objects.select_for_update().filter(stripe_dispute_id=dispute["id"]).first()
    if record is None:
        record = Dispute.objects.create(
            stripe_dispute_id=dispute["id"], payment=payment, wallet=wallet, status=state
        )
    if record.status == Dispute.Status.OPEN and state != Dispute.Status.OPEN:
        record.status = state
    if record.status != Dispute.Status.OPEN and record.closed_at is None:
        record.closed_at = now
    record.save(update_fields=["status", "closed_at", "updated_at"])
    _reversal_settle(wallet=wallet, payment=payment, now=now, cause=dispute["id"])
    payment.save()
    _wallet_freeze_set(wallet=wallet)


def _dispute_state(dispute: dict[str, Any]) -> str:
    status = dispute.get("status") or ""
    if status in DISPUTE_WON_STATES:
        return Dispute.Status.WON
    if status == "lost":
        return Dispute.Status.LOST
    return Dispute.Status.OPEN


def _wallet_freeze_set(*, wallet: Wallet) -> None:
    """Spending stops while any dispute on the wallet is open, and resumes when none is."""
    still_open = (
        Dispute.objects.filter(wallet=wallet, status=Dispute.Status.OPEN)
        .values_list("stripe_dispute_id", flat=True)
        .first()
    )
    if still_open is None:
        Wallet.objects.filter(pk=wallet.pk).update(frozen_at=None, frozen_reason="")
    else:
        Wallet.objects.filter(pk=wallet.pk, frozen_at__isnull=True).update(
            frozen_at=timezone.now(), frozen_reason=f"payment dispute {still_open}"
        )
