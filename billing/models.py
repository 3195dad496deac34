"""The credit ledger and the Stripe records behind it.

Invariants (checked by `python manage.py credits reconcile`):
- a wallet's `balance` equals the sum of its ledger entries' `amount`;
- a wallet's `balance` equals the sum of its lots' `remaining` (credits held by an open
  reservation are in neither: they left the lots and the balance together);
- ledger entries are never updated or deleted (on PostgreSQL a trigger refuses it), a
  correction is a new entry;
- `balance >= 0` is a database constraint: the last line of defence, never the first.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from common.models import TimeStampedModel


class Wallet(TimeStampedModel):
    """One per user. Only `billing.services` changes it, always under `select_for_update()`."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wallet"
    )
    balance = models.BigIntegerField(default=0)
    # Credits the customer owes after a dispute took back credits already spent. While it is
    # above zero nothing can be spent; new credits pay it off first.
    debt = models.BigIntegerField(default=0)
    # Set while a payment dispute is open: spending stops until it closes.
    frozen_at = models.DateTimeField(null=True, blank=True)
    frozen_reason = models.CharField(max_length=200, blank=True)
    stripe_customer_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # The customer's subscription to a paid tier, as Stripe last told us.
    stripe_subscription_id = models.CharField(max_length=64, blank=True)
    subscription_status = models.CharField(max_length=32, blank=True)
    subscription_period_end = models.DateTimeField(null=True, blank=True)
    subscription_cancel_at_period_end = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_balance_not_negative"),
            models.CheckConstraint(condition=Q(debt__gte=0), name="wallet_debt_not_negative"),
        ]

    def __str__(self) -> str:
        return f"wallet of user {self.user_id}: {self.balance}"

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class CreditLot(TimeStampedModel):
    """Credits that arrived together and expire together. Spending takes the soonest first."""

    class Source(models.TextChoices):
        FREE = "free", "Free monthly credits"
        PURCHASE = "purchase", "Purchased credits"
        SUBSCRIPTION = "subscription", "Subscription credits"
        ADJUSTMENT = "adjustment", "Added by staff"
        RESTORED = "restored", "Restored after a dispute"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="lots")
    source = models.CharField(max_length=16, choices=Source.choices)
    granted = models.BigIntegerField()
    remaining = models.BigIntegerField()
    expired = models.BigIntegerField(default=0)
    # Null: never expires (staff grants unless given a date).
    expires_at = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey(
        "Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="lots"
    )

    class Meta:
        ordering = ["expires_at", "id"]
        indexes = [
            models.Index(fields=["wallet", "expires_at"], name="lot_wallet_expiry"),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_open_expiry"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining__gte=0), name="lot_remaining_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(remaining__lte=models.F("granted")), name="lot_remaining_le_granted"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_source_display()}: {self.remaining}/{self.granted}"


class LedgerEntry(models.Model):
    """One change of a balance. Append-only: never updated, never deleted."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Free credits"
        PURCHASE = "purchase", "Purchase"
        SUBSCRIPTION = "subscription", "Subscription credits"
        RESERVE = "reserve", "Reserved for a generation"
        CAPTURE = "capture", "Spent on a generation"
        RELEASE = "release", "Returned from a generation"
        REFUND = "refund", "Refund"
        CHARGEBACK = "chargeback", "Payment dispute"
        DEBT = "debt", "Debt paid off"
        EXPIRY = "expiry", "Expired"
        ADJUSTMENT = "adjustment", "Adjustment by staff"

    # No index of its own: `entry_wallet_time` leads with the wallet (every index is written on
    # each insert, and entries are inserted under the wallet's lock).
    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    # Signed: what this entry added to (or, negative, took from) the balance. A capture is 0:
    # its credits already left the balance when they were reserved.
    amount = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Makes a retry of one operation a no-op: "reserve:<generation id>", "purchase:cs_...".
    idempotency_key = models.CharField(max_length=200, unique=True)
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(db_index=True)
    # References a person can follow. Never personal data: they outlive account deletion.
    generation_id = models.UUIDField(null=True, blank=True, db_index=True)
    credits = models.BigIntegerField(
        default=0, help_text="For a capture: the credits spent (the amount is 0)."
    )
    stripe_object_id = models.CharField(max_length=64, blank=True, db_index=True)
    lot = models.ForeignKey(
        CreditLot, null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["wallet", "-created_at", "-id"], name="entry_wallet_time")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} -> {self.balance_after}"


class Reservation(TimeStampedModel):
    """Credits held for one generation until it settles. States: reserved -> captured | released."""

    class Status(models.TextChoices):
        RESERVED = "reserved"
        CAPTURED = "captured"  # settled: `captured` spent, the rest released
        RELEASED = "released"  # settled: nothing spent

    # The wallet, the key and the time have no index of their own: the composite indexes below
    # lead with each of them, and a reservation is inserted under the wallet's lock, where every
    # index written is time the lock is held.
    wallet = models.ForeignKey(
        Wallet, on_delete=models.PROTECT, related_name="reservations", db_index=False
    )
    generation_id = models.UUIDField(unique=True)
    api_key = models.ForeignKey(
        "accounts.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    size = models.PositiveSmallIntegerField(null=True, blank=True)
    amount = models.BigIntegerField()
    captured = models.BigIntegerField(default=0)
    refunded = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RESERVED)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"], name="reservation_open"),
            models.Index(fields=["api_key", "created_at"], name="reservation_key_month"),
            models.Index(fields=["wallet", "created_at"], name="reservation_wallet_time"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="reservation_amount_positive"),
            models.CheckConstraint(
                condition=Q(captured__lte=models.F("amount")), name="reservation_captured_le_amount"
            ),
            models.CheckConstraint(
                condition=Q(refunded__lte=models.F("captured")),
                name="reservation_refunded_le_captured",
            ),
        ]

    def __str__(self) -> str:
        return f"reservation {self.generation_id}: {self.status}"

    @property
    def spent(self) -> int:
        """Credits this generation cost in the end (captured, less any refund)."""
        return self.captured - self.refunded


class ReservationPart(models.Model):
    """How much of a reservation came from which lot: a release returns credits where they were."""

    reservation = models.ForeignKey(Reservation, on_delete=models.PROTECT, related_name="parts")
    lot = models.ForeignKey(CreditLot, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    returned = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(returned__lte=models.F("amount")), name="part_returned_le_amount"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.amount} from lot {self.lot_id}"


class Payment(TimeStampedModel):
    """One Stripe payment that buys credits: a pack (Checkout Session) or a subscription invoice.

    The credit grant is keyed on the Stripe object (`cs_...` or `in_...`), never on the event,
    so the two events that describe one payment grant once. States only move forward.
    """

    class Kind(models.TextChoices):
        PACK = "pack", "Credit pack"
        SUBSCRIPTION = "subscription", "Subscription"

    class Status(models.TextChoices):
        PENDING = "pending"  # Checkout Session created, not paid yet
        PAID = "paid"  # credits granted
        FAILED = "failed"  # asynchronous payment failed; nothing granted
        REFUNDED = "refunded"  # (partly) refunded; credits taken back

    STATUS_ORDER = {Status.PENDING: 0, Status.FAILED: 1, Status.PAID: 1, Status.REFUNDED: 2}

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    pack = models.CharField(max_length=32, blank=True)
    tier_name = models.CharField(max_length=32, blank=True)
    credits = models.BigIntegerField()
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    checkout_session_id = models.CharField(max_length=128, unique=True, null=True, blank=True)
    invoice_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    payment_intent_id = models.CharField(max_length=64, blank=True, db_index=True)
    charge_id = models.CharField(max_length=64, blank=True, db_index=True)
    receipt_url = models.URLField(max_length=500, blank=True)
    refunded_cents = models.BigIntegerField(default=0)
    # What this payment's refunds and disputes took back, net of what a won dispute gave back:
    # credits taken from lots, and spent credits a dispute turned into debt
    # (billing.services.payments._reversal_settle keeps both at what the facts call for).
    credits_taken_back = models.BigIntegerField(default=0)
    debt_recorded = models.BigIntegerField(default=0)
    paid_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.checkout_session_id or self.invoice_id}: {self.status}"


class Dispute(TimeStampedModel):
    """A chargeback. While open the wallet is frozen; its payment's take-backs are on Payment."""

    class Status(models.TextChoices):
        OPEN = "open"
        WON = "won"
        LOST = "lost"

    stripe_dispute_id = models.CharField(max_length=64, unique=True)
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="disputes"
    )
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="disputes")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"dispute {self.stripe_dispute_id}: {self.status}"


class StripeEvent(TimeStampedModel):
    """A webhook event, stored once under Stripe's unique event id, then processed by a task."""

    class Status(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        IGNORED = "ignored"  # a type Easel does not handle
        FAILED = "failed"  # the handler raised; `error` says why; replay from the admin

    event_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=64, db_index=True)
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.RECEIVED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # The outbox: when the sweep sends its processing task again if it is still not processed
    # (a lost message, a failed try). Empty once processed or ignored, or after the last try.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(next_attempt_at__isnull=False),
                name="stripe_event_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id} ({self.status})"
