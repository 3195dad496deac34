"""Staff views of the ledger. Read-only: every change goes through billing.services."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from billing.models import (
    CreditLot,
    Dispute,
    LedgerEntry,
    Payment,
    Reservation,
    StripeEvent,
    Wallet,
)
from billing.services.webhooks import stripe_events_replay


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class LotInline(admin.TabularInline):
    model = CreditLot
    fields = ["source", "granted", "remaining", "expired", "expires_at", "payment"]
    readonly_fields = ["source", "granted", "remaining", "expired", "expires_at", "payment"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = [
        "user",
        "balance",
        "debt",
        "frozen_at",
        "subscription_status",
        "stripe_customer_id",
    ]
    search_fields = ["user__email", "stripe_customer_id", "stripe_subscription_id"]
    list_filter = ["subscription_status"]
    inlines = [LotInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "wallet",
        "kind",
        "amount",
        "balance_after",
        "generation_id",
        "stripe_object_id",
        "actor",
    ]
    list_filter = ["kind"]
    search_fields = ["wallet__user__email", "idempotency_key", "stripe_object_id", "generation_id"]
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = [
        "generation_id",
        "wallet",
        "status",
        "amount",
        "captured",
        "refunded",
        "created_at",
    ]
    list_filter = ["status"]
    search_fields = ["generation_id", "wallet__user__email"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "wallet",
        "kind",
        "status",
        "credits",
        "amount_cents",
        "refunded_cents",
        "credits_taken_back",
        "debt_recorded",
        "checkout_session_id",
        "invoice_id",
    ]
    list_filter = ["kind", "status"]
    search_fields = [
        "checkout_session_id",
        "invoice_id",
        "payment_intent_id",
        "charge_id",
        "wallet__user__email",
    ]


@admin.register(Dispute)
class DisputeAdmin(ReadOnlyAdmin):
    list_display = [
        "stripe_dispute_id",
        "wallet",
        "payment",
        "status",
        "closed_at",
    ]
    list_filter = ["status"]


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "event_id",
        "type",
        "status",
        "attempts",
        "processed_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "type"]
    search_fields = ["event_id"]
    actions = ["replay"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Needed for the replay action to show; the form itself stays read-only.
        return request.user.is_superuser or request.user.has_perm("billing.change_stripeevent")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in StripeEvent._meta.fields]

    @admin.action(description="Replay the selected events (failed or unprocessed)")
    def replay(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        results = stripe_events_replay(event_ids=list(queryset.values_list("event_id", flat=True)))
        failed = [
            event_id for event_id, status in results.items() if status == StripeEvent.Status.FAILED
        ]
        if failed:
            self.message_user(request, f"Still failing: {', '.join(failed)}", messages.ERROR)
        else:
            self.message_user(request, f"Replayed {len(results)} event(s).", messages.SUCCESS)
