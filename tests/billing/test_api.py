"""The native billing API at /api/v1/billing/: balance, ledger, usage, checkout and portal."""

import datetime as dt
import uuid

import pytest
from rest_framework.test import APIClient

from accounts.services.api_keys import api_key_create
from billing.models import Payment
from billing.services.credits import credits_capture, credits_reserve

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(user_with_balance):  # type: ignore[no-untyped-def]
    return user_with_balance(30, email="carol@example.com")


@pytest.fixture
def api(customer):  # type: ignore[no-untyped-def]
    client = APIClient()
    client.force_authenticate(customer)
    return client


def test_balance_lists_lots_with_expiry_prices_and_packs(api, customer):
    credits_reserve(user=customer, generation_id=uuid.uuid4(), amount=4)
    body = api.get("/api/v1/billing/balance").json()
    assert body["balance"] == 26 and body["reserved"] == 4 and body["debt"] == 0
    assert body["lots"][0]["source"] == "free" and body["lots"][0]["remaining"] == 26
    assert body["lots"][0]["expires_at"]
    assert {"size": 1024, "credits": 2} in body["prices"]
    assert body["packs"][0] == {"id": "115", "credits": 115, "price_cents": 1500, "currency": "usd"}
    assert body["payments_configured"] is False


def test_balance_needs_authentication():
    response = APIClient().get("/api/v1/billing/balance")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_ledger_pages_newest_first_and_filters_by_kind(api, customer):
    for _ in range(5):
        generation_id = uuid.uuid4()
        credits_reserve(user=customer, generation_id=generation_id, amount=2)
        credits_capture(generation_id=generation_id, amount=1)
    first = api.get("/api/v1/billing/ledger", {"limit": 4}).json()
    assert first["object"] == "list" and first["has_more"] is True and len(first["data"]) == 4
    ids = [row["id"] for row in first["data"]]
    assert ids == sorted(ids, reverse=True)
    rest = api.get("/api/v1/billing/ledger", {"limit": 100, "after": first["last_id"]}).json()
    assert rest["has_more"] is False
    assert len(first["data"]) + len(rest["data"]) == 16  # sign-up + 5 x (reserve, capture, release)
    assert not set(ids) & {row["id"] for row in rest["data"]}
    captures = api.get("/api/v1/billing/ledger", {"kind": "capture"}).json()["data"]
    assert len(captures) == 5
    assert captures[0]["description"].startswith("1 credit spent on generation ")
    both = api.get("/api/v1/billing/ledger", {"kind": "capture,grant"}).json()["data"]
    assert len(both) == 6


def test_ledger_filters_by_date_and_rejects_bad_filters(api, customer):
    today = dt.date.today()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    assert api.get("/api/v1/billing/ledger", {"since": tomorrow}).json()["data"] == []
    response = api.get("/api/v1/billing/ledger", {"kind": "bonus"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "kind"
    assert api.get("/api/v1/billing/ledger", {"since": "yesterday"}).status_code == 400


def test_usage_per_day_key_and_size_is_chart_ready(api, customer):
    key = api_key_create(user=customer, name="ci").key
    for amount, size, api_key in [(2, 1024, key), (1, 256, None), (1, 256, key)]:
        generation_id = uuid.uuid4()
        credits_reserve(
            user=customer, generation_id=generation_id, amount=amount, size=size, api_key=api_key
        )
        credits_capture(generation_id=generation_id, amount=amount)
    credits_reserve(
        user=customer, generation_id=uuid.uuid4(), amount=5
    )  # held, not spent: not usage
    body = api.get("/api/v1/billing/usage").json()
    assert len(body["by_day"]) == 30
    assert body["by_day"][-1]["credits"] == 4 and body["by_day"][-1]["generations"] == 3
    assert body["total_credits"] == 4
    by_key = {row["api_key"]: row["credits"] for row in body["by_api_key"]}
    assert by_key == {key.prefix: 3, None: 1}
    assert body["by_size"] == [
        {"size": 256, "credits": 2, "generations": 2},
        {"size": 1024, "credits": 2, "generations": 1},
    ]
    bad = api.get("/api/v1/billing/usage", {"since": "2026-02-01", "until": "2026-01-01"})
    assert bad.status_code == 400


def test_checkout_without_stripe_keys_is_a_clear_503(api):
    response = api.post("/api/v1/billing/checkout/pack", {}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payments_not_configured"
    assert "not configured" in response.json()["error"]["message"]
    assert not Payment.objects.exists()


def test_checkout_pack_subscription_and_portal_through_the_local_stripe(
    api, stripe_settings, stripe_server
):
    pack = api.post("/api/v1/billing/checkout/pack", {"pack": "115"}, format="json")
    assert pack.status_code == 201 and pack.json()["url"].startswith(stripe_server.url)
    unknown = api.post("/api/v1/billing/checkout/pack", {"pack": "9999"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["error"]["param"] == "pack"
    subscription = api.post(
        "/api/v1/billing/checkout/subscription", {"tier": "plus"}, format="json"
    )
    assert subscription.status_code == 201
    session = stripe_server.get(subscription.json()["session_id"])
    assert session["mode"] == "subscription"
    assert session["line_items_requested"][0]["price"] == "price_plus_monthly"
    free = api.post("/api/v1/billing/checkout/subscription", {"tier": "free"}, format="json")
    assert free.status_code == 400
    portal = api.post("/api/v1/billing/portal")
    assert portal.status_code == 201 and "/portal/" in portal.json()["url"]


def test_stripe_outage_is_a_503_and_stores_nothing(api, stripe_settings, stripe_server):
    stripe_settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    response = api.post("/api/v1/billing/checkout/pack", {}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "payments_unavailable"
    assert not Payment.objects.exists()
