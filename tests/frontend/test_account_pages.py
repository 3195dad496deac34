"""Billing, API keys and webhooks, the account page and appeals."""

import pytest

from accounts.models import ApiKey
from billing.selectors import balance_summary
from generation.models import WebhookEndpoint
from moderation.models import Appeal, Decision
from tests.billing.stripe_server import (
    TEST_SECRET_KEY,
    TEST_WEBHOOK_SECRET,
    StripeServer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def _stripe_process():  # type: ignore[no-untyped-def]
    with StripeServer() as server:
        yield server


@pytest.fixture
def stripe(settings, _stripe_process):  # type: ignore[no-untyped-def]
    _stripe_process.reset()
    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET
    settings.STRIPE_API_BASE = _stripe_process.url
    settings.BILLING_STRIPE_PRICE_IDS = {"plus": "price_plus_monthly", "pro": "price_pro_monthly"}
    return _stripe_process


def test_billing_page_shows_balance_lots_chart_and_ledger(user_client, user):
    response = user_client.get("/billing/")
    assert response.status_code == 200
    body = response.content.decode()
    balance = balance_summary(user=user)
    assert f'data-testid="balance">{balance.balance}<' in body
    assert "<td>Sign-up credits</td>" in body  # the sign-up lot, named as such
    assert "Free monthly credits" not in body
    assert "No credits used in the last 30 days" in body and '<svg class="chart"' not in body
    assert "Payments are not set up" in body  # no Stripe keys in tests by default


def test_billing_chart_shows_todays_spending_after_a_generation(
    user_client, user, django_capture_on_commit_callbacks
):
    from django.utils import timezone

    with django_capture_on_commit_callbacks(execute=True):  # the eager task runs the tiny model
        user_client.post("/create/", {"prompt": "a teapot in the rain", "n": 2, "size": 256})
    body = user_client.get("/billing/").content.decode()
    today = timezone.now().strftime("%m-%d")
    assert '<svg class="chart"' in body
    assert f"<title>{today}: 2</title>" in body  # two 256px images, one credit each


def test_buying_without_stripe_keys_explains_and_redirects_back(user_client):
    response = user_client.post("/billing/buy", {"pack": "115"}, follow=True)
    assert response.redirect_chain[-1][0] == "/billing/"
    assert "not configured" in response.content.decode().lower()


def test_buy_redirects_to_checkout_and_the_signed_webhook_credits_the_balance(
    client, user, stripe, django_capture_on_commit_callbacks
):
    client.force_login(user)
    before = balance_summary(user=user).balance
    response = client.post("/billing/buy", {"pack": "115"})
    assert response.status_code == 302
    assert response["Location"].startswith(stripe.url)
    session_id = next(
        obj["id"]
        for obj in stripe.state.objects.values()
        if obj.get("object") == "checkout.session"
    )
    session = stripe.pay_checkout_session(session_id)
    with django_capture_on_commit_callbacks(execute=True):
        answer = stripe.deliver(client, "checkout.session.completed", session)
    assert answer.status_code == 200
    page = client.get("/billing/?checkout=success").content.decode()
    assert f'data-testid="balance">{before + 115}<' in page
    assert "pay.stripe.com/receipts/" in page


def test_unknown_pack_is_refused_without_calling_stripe(client, user, stripe):
    client.force_login(user)
    response = client.post("/billing/buy", {"pack": "9999"}, follow=True)
    assert response.redirect_chain[-1][0] == "/billing/"
    assert not [request for request in stripe.state.requests if "checkout" in request[1]]


def test_change_tier_and_portal_redirect_to_stripe(client, user, stripe):
    client.force_login(user)
    tier = client.post("/billing/tier", {"tier": "pro"})
    assert tier.status_code == 302 and tier["Location"].startswith(stripe.url)
    portal = client.post("/billing/portal")
    assert portal.status_code == 302 and portal["Location"].startswith(stripe.url)


# What the page's checkboxes send untouched (accounts.services.api_keys.DEFAULT_SCOPES).
BROWSER_DEFAULT_SCOPES = ["images.generate", "images.read", "moderation.read", "moderation.write"]


def test_api_key_secret_is_shown_once_and_revoke_works(user_client, user, settings):
    settings.SITE_URL = "https://easel.example"
    user_client.post("/developers/keys", {"name": "ci", "scopes": BROWSER_DEFAULT_SCOPES})
    key = ApiKey.objects.get(user=user)
    assert key.scopes == BROWSER_DEFAULT_SCOPES
    first = user_client.get("/developers/").content.decode()
    assert 'data-testid="new-secret">sk-' in first and key.prefix in first
    assert "https://easel.example/v1" in first  # the quick start's real base URL
    second = user_client.get("/developers/").content.decode()
    assert "new-secret" not in second and key.prefix in second
    user_client.post(f"/developers/keys/{key.prefix}/revoke")
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_api_key_form_errors_and_other_users_keys(client, user, other_user):
    client.force_login(user)
    client.post("/developers/keys", {"name": ""})
    client.post("/developers/keys", {"name": "x", "monthly_credit_cap": "-3"})
    assert not ApiKey.objects.exists()
    client.force_login(other_user)
    client.post("/developers/keys", {"name": "theirs", "scopes": BROWSER_DEFAULT_SCOPES})
    theirs = ApiKey.objects.get(user=other_user)
    client.force_login(user)
    assert client.post(f"/developers/keys/{theirs.prefix}/revoke").status_code == 404
    assert theirs.prefix not in client.get("/developers/").content.decode()


def test_webhook_endpoints_add_refuse_and_delete(client, user, other_user):
    client.force_login(user)
    response = client.post("/developers/webhooks", {"url": "not a url"}, follow=True)
    assert "Enter a full" in response.content.decode()
    client.post("/developers/webhooks", {"url": "https://hooks.example.com/easel"})
    endpoint = WebhookEndpoint.objects.get(user=user)
    assert "hooks.example.com" in client.get("/developers/").content.decode()
    client.force_login(other_user)
    assert client.post(f"/developers/webhooks/{endpoint.pk}/delete").status_code == 404
    client.force_login(user)
    client.post(f"/developers/webhooks/{endpoint.pk}/delete")
    assert not WebhookEndpoint.objects.exists()


def test_account_page_and_deletion_needs_confirmation(client, user):
    client.force_login(user)
    body = client.get("/account/").content.decode()
    assert user.email in body and "/accounts/2fa/" in body
    client.post("/account/delete", {"confirm": "delete"})
    user.refresh_from_db()
    assert user.deleted_at is None
    response = client.post("/account/delete", {"confirm": "DELETE"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.deleted_at is not None
    assert client.get("/account/").status_code == 302  # signed out


def test_appeal_a_blocked_prompt(user_client, user):
    user_client.post("/create/", {"prompt": "a photo of Barack Obama smiling", "n": 1, "size": 256})
    decision = Decision.objects.get(user=user, outcome="block")
    page = user_client.get("/appeals/").content.decode()
    assert f'value="{decision.pk}"' in page
    empty = user_client.post("/appeals/", {"decision": decision.pk, "text": ""})
    assert empty.status_code == 400 and not Appeal.objects.exists()
    user_client.post(
        "/appeals/", {"decision": decision.pk, "text": "It is my neighbour, also called Barack."}
    )
    assert Appeal.objects.filter(user=user, decision=decision).exists()


def test_appeal_of_someone_elses_decision_is_refused(client, user, other_user):
    client.force_login(other_user)
    client.post("/create/", {"prompt": "a photo of Barack Obama smiling", "n": 1, "size": 256})
    decision = Decision.objects.get(user=other_user, outcome="block")
    client.force_login(user)
    response = client.post("/appeals/", {"decision": decision.pk, "text": "please"})
    assert response.status_code == 400
    assert not Appeal.objects.exists()
