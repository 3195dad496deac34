"""Billing: balance and lots, buying credits, plans, the Stripe portal, usage and the ledger."""

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Tier
from billing.selectors import (
    balance_summary,
    ledger_history,
    ledger_history_rows,
    lot_labels,
    price_table,
    usage_summary,
)
from billing.services.payments import (
    checkout_pack_start,
    checkout_subscription_start,
    portal_session_start,
)
from common.errors import ApiError
from frontend.charts import bar_chart
from frontend.views.common import AuthedRequest, flash_error

USAGE_DAYS = 30
LEDGER_PAGE_SIZE = 20


@login_required
def billing(request: AuthedRequest) -> HttpResponse:
    today = timezone.now().date()
    usage = usage_summary(
        user=request.user, since=today - dt.timedelta(days=USAGE_DAYS - 1), until=today
    )
    chart = bar_chart([(day["date"][5:], [day["credits"]]) for day in usage["by_day"]])
    page = Paginator(ledger_history(user=request.user), LEDGER_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    ledger = ledger_history_rows(user=request.user, groups=list(page.object_list))
    balance = balance_summary(user=request.user)
    labels = lot_labels(lots=balance.lots)
    lots = [{"lot": lot, "label": labels[lot.pk]} for lot in balance.lots]
    packs: dict[str, dict[str, Any]] = settings.BILLING_CREDIT_PACKS
    checkout = request.GET.get("checkout")
    if checkout == "success":
        messages.info(
            request, "Thank you. Your credits appear here as soon as Stripe confirms the payment."
        )
    elif checkout == "canceled":
        messages.info(request, "Checkout canceled. Nothing was charged.")
    context = {
        "balance": balance,
        "lots": lots,
        "usage": usage,
        "chart": chart,
        "page": page,
        "ledger": ledger,
        "packs": sorted(packs.items(), key=lambda item: item[1]["credits"]),
        "tiers": Tier.objects.filter(is_public=True).order_by("sort_order"),
        "prices": price_table(),
        "payments_enabled": bool(settings.STRIPE_SECRET_KEY),
    }
    return render(request, "frontend/billing.html", context)


def _stripe_redirect(request: AuthedRequest, start) -> HttpResponse:  # type: ignore[no-untyped-def]
    """Runs a billing service that answers a Stripe-hosted URL and sends the browser there."""
    try:
        url = start()
    except ApiError as error:
        flash_error(request, error)
        return redirect("frontend:billing")
    return redirect(url)


@login_required
@require_POST
def billing_buy(request: AuthedRequest) -> HttpResponse:
    pack = request.POST.get("pack", settings.BILLING_DEFAULT_PACK)
    return _stripe_redirect(
        request, lambda: checkout_pack_start(user=request.user, pack_id=pack).url
    )


@login_required
@require_POST
def billing_change_tier(request: AuthedRequest) -> HttpResponse:
    tier_name = request.POST.get("tier", "")
    return _stripe_redirect(
        request, lambda: checkout_subscription_start(user=request.user, tier_name=tier_name).url
    )


@login_required
@require_POST
def billing_portal(request: AuthedRequest) -> HttpResponse:
    return _stripe_redirect(request, lambda: portal_session_start(user=request.user))
