"""The native API of billing: balance, ledger history, usage, starting a purchase. Thin views."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import READ_BILLING, WRITE_BILLING
from billing.models import CreditLot, LedgerEntry
from billing.selectors import (
    balance_summary,
    entry_description,
    ledger_entries,
    price_table,
    receipts_for_entries,
    usage_summary,
)
from billing.services.payments import (
    checkout_pack_start,
    checkout_subscription_start,
    portal_session_start,
)
from billing.stripe_client import payments_configured

MAX_PAGE = 100


@extend_schema_serializer(component_name="BillingCreditLot")
class LotOutputSerializer(serializers.ModelSerializer):
    source_label = serializers.CharField(source="get_source_display")

    class Meta:
        model = CreditLot
        fields = ["source", "source_label", "granted", "remaining", "expires_at", "created_at"]


class BalanceApi(APIView):
    permission_classes = READ_BILLING

    @extend_schema_serializer(component_name="BillingBalance")
    class OutputSerializer(serializers.Serializer):
        balance = serializers.IntegerField(help_text="Credits you can spend now.")
        reserved = serializers.IntegerField(help_text="Credits held by generations still running.")
        debt = serializers.IntegerField(help_text="Credits owed after a reversed payment.")
        frozen = serializers.BooleanField(
            help_text="Spending paused while a payment dispute is open."
        )
        lots = LotOutputSerializer(
            many=True, help_text="Where the balance comes from, soonest expiry first."
        )
        prices = serializers.ListField(child=serializers.DictField())
        packs = serializers.ListField(child=serializers.DictField())
        payments_configured = serializers.BooleanField()

    @extend_schema(
        operation_id="billing_balance",
        summary="Your credit balance and its lots",
        responses=OutputSerializer,
    )
    def get(self, request: Request) -> Response:
        summary = balance_summary(user=request.user)
        packs = [
            {
                "id": pack_id,
                "credits": pack["credits"],
                "price_cents": pack["price_cents"],
                "currency": pack["currency"],
            }
            for pack_id, pack in settings.BILLING_CREDIT_PACKS.items()
        ]
        data = {
            "balance": summary.balance,
            "reserved": summary.reserved,
            "debt": summary.debt,
            "frozen": summary.frozen,
            "lots": summary.lots,
            "prices": price_table(),
            "packs": packs,
            "payments_configured": payments_configured(),
        }
        return Response(self.OutputSerializer(data).data)


class LedgerListApi(APIView):
    """Newest first; page with `after` (the `last_id` of the previous page), like OpenAI's lists."""

    permission_classes = READ_BILLING

    @extend_schema_serializer(component_name="BillingLedgerQuery")
    class InputSerializer(serializers.Serializer):
        kind = serializers.MultipleChoiceField(choices=LedgerEntry.Kind.choices, required=False)
        since = serializers.DateField(required=False, help_text="First day (UTC), inclusive.")
        until = serializers.DateField(required=False, help_text="Last day (UTC), inclusive.")
        after = serializers.IntegerField(required=False, min_value=1)
        limit = serializers.IntegerField(
            required=False, min_value=1, max_value=MAX_PAGE, default=20
        )

    @extend_schema_serializer(component_name="BillingLedgerEntry")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        created_at = serializers.DateTimeField()
        kind = serializers.CharField()
        kind_label = serializers.CharField()
        amount = serializers.IntegerField()
        balance_after = serializers.IntegerField()
        description = serializers.CharField()
        generation_id = serializers.UUIDField(allow_null=True)
        receipt_url = serializers.CharField(allow_blank=True)

    @extend_schema(
        operation_id="billing_ledger_list",
        summary="Your credit history",
        parameters=[InputSerializer],
        responses=inline_serializer(
            "LedgerPage",
            {
                "object": serializers.CharField(),
                "data": OutputSerializer(many=True),
                "first_id": serializers.IntegerField(allow_null=True),
                "last_id": serializers.IntegerField(allow_null=True),
                "has_more": serializers.BooleanField(),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        params = request.query_params.copy()
        if "kind" in params:  # accept kind=a,b as well as kind=a&kind=b
            params.setlist(
                "kind", [k for value in params.getlist("kind") for k in value.split(",") if k]
            )
        query = self.InputSerializer(data=params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        entries = ledger_entries(
            user=request.user,
            kinds=sorted(filters.get("kind", [])),
            since=filters.get("since"),
            until=filters.get("until"),
        ).order_by("-id")
        if filters.get("after"):
            entries = entries.filter(id__lt=filters["after"])
        limit = filters["limit"]
        page = list(entries[: limit + 1])
        has_more = len(page) > limit
        page = page[:limit]
        receipts = receipts_for_entries(entries=page)
        rows = [
            {
                "id": entry.id,
                "created_at": entry.created_at,
                "kind": entry.kind,
                "kind_label": entry.get_kind_display(),
                "amount": entry.amount,
                "balance_after": entry.balance_after,
                "description": entry_description(entry=entry),
                "generation_id": entry.generation_id,
                "receipt_url": receipts.get(entry.stripe_object_id, ""),
            }
            for entry in page
        ]
        return Response(
            {
                "object": "list",
                "data": self.OutputSerializer(rows, many=True).data,
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": has_more,
            }
        )


class UsageApi(APIView):
    permission_classes = READ_BILLING

    @extend_schema_serializer(component_name="BillingUsageQuery")
    class InputSerializer(serializers.Serializer):
        since = serializers.DateField(required=False, help_text="Default: 29 days before `until`.")
        until = serializers.DateField(required=False, help_text="Default: today (UTC).")

    @extend_schema(
        operation_id="billing_usage",
        summary="Credits spent per day, per API key and per size (chart-ready)",
        parameters=[InputSerializer],
        responses=inline_serializer(
            "Usage",
            {
                "since": serializers.DateField(),
                "until": serializers.DateField(),
                "total_credits": serializers.IntegerField(),
                "by_day": serializers.ListField(child=serializers.DictField()),
                "by_api_key": serializers.ListField(child=serializers.DictField()),
                "by_size": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        until = query.validated_data.get("until") or timezone.now().astimezone(dt.UTC).date()
        since = query.validated_data.get("since") or until - dt.timedelta(days=29)
        return Response(usage_summary(user=request.user, since=since, until=until))


@extend_schema_serializer(component_name="BillingRedirect")
class CheckoutSessionOutputSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Send the customer here (Stripe Checkout or the Portal).")


class CheckoutPackCreateApi(APIView):
    permission_classes = WRITE_BILLING

    @extend_schema_serializer(component_name="BillingCheckoutPackRequest")
    class InputSerializer(serializers.Serializer):
        pack = serializers.CharField(
            required=False, help_text="A pack id; default: the standard pack."
        )

    @extend_schema(
        operation_id="billing_checkout_pack",
        summary="Start buying a credit pack (Stripe Checkout)",
        request=InputSerializer,
        responses=CheckoutSessionOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        start = checkout_pack_start(user=request.user, pack_id=body.validated_data.get("pack"))
        return Response({"url": start.url, "session_id": start.session_id}, status=201)


class CheckoutSubscriptionCreateApi(APIView):
    permission_classes = WRITE_BILLING

    @extend_schema_serializer(component_name="BillingCheckoutSubscriptionRequest")
    class InputSerializer(serializers.Serializer):
        tier = serializers.CharField(help_text="A paid tier: plus or pro.")

    @extend_schema(
        operation_id="billing_checkout_subscription",
        summary="Start a subscription to a paid tier (Stripe Checkout)",
        request=InputSerializer,
        responses=CheckoutSessionOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        body = self.InputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        start = checkout_subscription_start(
            user=request.user, tier_name=body.validated_data["tier"]
        )
        return Response({"url": start.url, "session_id": start.session_id}, status=201)


class PortalSessionCreateApi(APIView):
    permission_classes = WRITE_BILLING

    @extend_schema(
        operation_id="billing_portal",
        summary="Open the Stripe Customer Portal (plan changes, cancellation, invoices)",
        request=None,
        responses=CheckoutSessionOutputSerializer,
    )
    def post(self, request: Request) -> Response:
        return Response({"url": portal_session_start(user=request.user)}, status=201)
