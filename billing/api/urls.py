"""Native API routes of billing, mounted under /api/v1/."""

from django.urls import path

from billing.api.views import (
    BalanceApi,
    CheckoutPackCreateApi,
    CheckoutSubscriptionCreateApi,
    LedgerListApi,
    PortalSessionCreateApi,
    UsageApi,
)

urlpatterns = [
    path("billing/balance", BalanceApi.as_view(), name="api-billing-balance"),
    path("billing/ledger", LedgerListApi.as_view(), name="api-billing-ledger"),
    path("billing/usage", UsageApi.as_view(), name="api-billing-usage"),
    path(
        "billing/checkout/pack", CheckoutPackCreateApi.as_view(), name="api-billing-checkout-pack"
    ),
    path(
        "billing/checkout/subscription",
        CheckoutSubscriptionCreateApi.as_view(),
        name="api-billing-checkout-subscription",
    ),
    path("billing/portal", PortalSessionCreateApi.as_view(), name="api-billing-portal"),
]
