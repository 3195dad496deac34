"""Every endpoint an API key can reach, called with a key of every scope: the scope matrix.

ENDPOINTS is the contract (docs/accounts.md has it as a table). The endpoints are read from the
URL resolver, so an endpoint added without an entry here fails
`test_every_endpoint_is_in_the_matrix`, and one whose view names another scope than its entry
fails `test_every_endpoint_with_every_scope`.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services.api_keys import api_key_create
from generation.models import WebhookEndpoint
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

S = ApiKey.Scope
ANY_KEY = "any key"  # every valid key, whatever its scopes
PUBLIC = "public"  # no key needed at all
SESSION = "web session only"  # never a key
STAFF = "staff session only"  # never a key

ENDPOINTS: dict[tuple[str, str], str] = {
    # The OpenAI-compatible API.
    ("POST", "v1/images/generations"): S.GENERATE,
    ("POST", "v1/images/edits"): S.GENERATE,
    ("POST", "v1/images/variations"): S.GENERATE,
    ("GET", "v1/models"): ANY_KEY,
    ("GET", "v1/models/<path:model_id>"): ANY_KEY,
    # Accounts and keys.
    ("GET", "api/v1/account"): S.ACCOUNT_READ,
    ("DELETE", "api/v1/account"): SESSION,
    ("GET", "api/v1/keys"): S.KEYS_READ,
    ("POST", "api/v1/keys"): S.KEYS_WRITE,
    ("DELETE", "api/v1/keys/<str:prefix>"): S.KEYS_WRITE,
    # Billing.
    ("GET", "api/v1/billing/balance"): S.BILLING_READ,
    ("GET", "api/v1/billing/ledger"): S.BILLING_READ,
    ("GET", "api/v1/billing/usage"): S.BILLING_READ,
    ("POST", "api/v1/billing/checkout/pack"): S.BILLING_WRITE,
    ("POST", "api/v1/billing/checkout/subscription"): S.BILLING_WRITE,
    ("POST", "api/v1/billing/portal"): S.BILLING_WRITE,
    # Generations and images.
    ("POST", "api/v1/generations"): S.GENERATE,
    ("POST", "api/v1/generations/preflight"): S.GENERATE,
    ("GET", "api/v1/generations/<uuid:generation_id>"): S.READ,
    ("GET", "api/v1/generations/<uuid:generation_id>/events"): S.READ,
    ("POST", "api/v1/generations/<uuid:generation_id>/cancel"): S.GENERATE,
    ("GET", "api/v1/images"): S.READ,
    ("GET", "api/v1/images/<uuid:image_id>"): S.READ,
    ("DELETE", "api/v1/images/<uuid:image_id>"): S.GENERATE,
    ("POST", "api/v1/images/<uuid:image_id>/share"): S.GENERATE,
    ("DELETE", "api/v1/images/<uuid:image_id>/share"): S.GENERATE,
    ("GET", "api/v1/collections"): S.READ,
    ("POST", "api/v1/collections"): S.GENERATE,
    ("GET", "api/v1/collections/<int:collection_id>"): S.READ,
    ("PATCH", "api/v1/collections/<int:collection_id>"): S.GENERATE,
    ("DELETE", "api/v1/collections/<int:collection_id>"): S.GENERATE,
    ("POST", "api/v1/collections/<int:collection_id>/images/<uuid:image_id>"): S.GENERATE,
    ("DELETE", "api/v1/collections/<int:collection_id>/images/<uuid:image_id>"): S.GENERATE,
    # Anyone may ask whether Easel made an image; which of one's own it is needs images.read.
    ("POST", "api/v1/provenance/check"): PUBLIC,
    # Webhooks.
    ("GET", "api/v1/webhooks"): S.WEBHOOKS_READ,
    ("POST", "api/v1/webhooks"): S.WEBHOOKS_WRITE,
    ("GET", "api/v1/webhooks/<uuid:endpoint_id>"): S.WEBHOOKS_READ,
    ("PATCH", "api/v1/webhooks/<uuid:endpoint_id>"): S.WEBHOOKS_WRITE,
    ("DELETE", "api/v1/webhooks/<uuid:endpoint_id>"): S.WEBHOOKS_WRITE,
    ("GET", "api/v1/webhooks/<uuid:endpoint_id>/deliveries"): S.WEBHOOKS_READ,
    ("POST", "api/v1/webhooks/deliveries/<uuid:delivery_id>/replay"): S.WEBHOOKS_WRITE,
    # Moderation: one's own blocks, appeals, suspensions; reports from anyone.
    ("GET", "api/v1/decisions"): S.MODERATION_READ,
    ("POST", "api/v1/decisions/<int:decision_id>/appeal"): S.MODERATION_WRITE,
    ("POST", "api/v1/appeals"): S.MODERATION_WRITE,
    ("GET", "api/v1/suspensions"): S.MODERATION_READ,
    ("POST", "api/v1/reports"): PUBLIC,
    # Likeness protection: listing is account data; enrolling and withdrawing a face need the
    # person, signed in.
    ("GET", "api/v1/likeness/enrolments"): S.ACCOUNT_READ,
    ("POST", "api/v1/likeness/enrolments"): SESSION,
    ("DELETE", "api/v1/likeness/enrolments/<int:enrolment_id>"): SESSION,
    # A signed image URL: the token is the credential.
    ("GET", "api/v1/media/<str:token>"): PUBLIC,
    # The API's own documentation.
    ("GET", "api/schema/"): PUBLIC,
    ("GET", "api/docs/"): PUBLIC,
}
STAFF_PREFIX = "api/v1/staff/"
API_PREFIXES = ("v1/", "api/")
METHODS = ("get", "post", "put", "patch", "delete")
SAMPLES = {
    "uuid": "00000000-0000-4000-8000-000000000000",
    "int": "1",
    "str": "sk-nothing0",
    "path": "easel/tiny",
}


def _endpoints(patterns: list, prefix: str = "") -> set[tuple[str, str]]:
    """(METHOD, route) of every API endpoint, from the resolver."""
    found: set[tuple[str, str]] = set()
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found |= _endpoints(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith(API_PREFIXES):
            view = getattr(pattern.callback, "cls", None)
            if view is None:  # a plain Django view: the signed media route answers GET
                found.add(("GET", route))
                continue
            found |= {(m.upper(), route) for m in METHODS if hasattr(view, m)}
    return found


def _url(route: str) -> str:
    return "/" + re.sub(r"<(\w+):\w+>", lambda match: SAMPLES[match[1]], route)


def _expected(method: str, route: str) -> str:
    return STAFF if route.startswith(STAFF_PREFIX) else ENDPOINTS[(method, route)]


def test_every_endpoint_is_in_the_matrix():
    found = _endpoints(get_resolver().url_patterns)
    unlisted = {e for e in found if not e[1].startswith(STAFF_PREFIX)} - set(ENDPOINTS)
    assert not unlisted, f"add these endpoints and the scope they need to ENDPOINTS: {unlisted}"
    assert set(ENDPOINTS) <= found, set(ENDPOINTS) - found  # none listed that is gone


def _call(client: APIClient, method: str, route: str):  # type: ignore[no-untyped-def]
    return getattr(client, method.lower())(_url(route), {}, format="json")


def _is_scope_refusal(response, scope: str) -> bool:  # type: ignore[no-untyped-def]
    if response.status_code != 403:
        return False
    error = response.json()["error"]
    return error["code"] == "missing_scope" and scope in error["message"]


def test_every_endpoint_with_every_scope(settings):
    settings.EASEL_API_WAIT_TIMEOUT = 1
    settings.EASEL_API_SHARED_THREAD_POOL = False
    user = UserFactory.create()
    clients = {}
    for scope in S.values:
        client = APIClient()
        secret = api_key_create(user=user, name=scope, scopes=[scope]).secret
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        clients[scope] = client
    session = APIClient()
    session.force_login(user)

    problems = []
    for method, route in sorted(_endpoints(get_resolver().url_patterns)):
        expected = _expected(method, route)
        for scope, client in clients.items():
            response = _call(client, method, route)
            status = response.status_code
            where = f"{method} /{route} with a {scope!r} key: {status}"
            if isinstance(expected, str) and expected in S.values:
                if scope == expected and status in (401, 403):
                    problems.append(f"{where}, refused although the key has {expected}")
                elif scope != expected and not _is_scope_refusal(response, expected):
                    problems.append(f"{where}, not refused for lacking {expected}")
            elif expected in (ANY_KEY, PUBLIC) and status in (401, 403):
                problems.append(f"{where}, refused")
            elif expected == SESSION and not (
                status == 403 and response.json()["error"]["code"] == "session_required"
            ):
                problems.append(f"{where}, not refused as web-session only")
            elif expected == STAFF and status not in (401, 403):
                problems.append(f"{where}, a staff endpoint answered a key")
        if expected in S.values or expected == SESSION:
            answer = _call(session, method, route)
            if answer.status_code in (401, 403):  # a web session has every scope
                problems.append(f"{method} /{route} with a web session: {answer.status_code}")
    assert not problems, "\n".join(problems)


@pytest.fixture
def read_only(user):  # type: ignore[no-untyped-def]
    client = APIClient()
    secret = api_key_create(user=user, name="ro", scopes=["images.read"]).secret
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_read_only_key_cannot_revoke_add_a_webhook_or_buy(user, read_only):
    other = api_key_create(user=user, name="production", scopes=["images.generate"]).key
    attempts = [
        ("delete", f"/api/v1/keys/{other.prefix}", {}, "keys.write"),
        ("post", "/api/v1/webhooks", {"url": "https://hooks.example.com/x"}, "webhooks.write"),
        ("post", "/api/v1/billing/checkout/pack", {}, "billing.write"),
    ]
    for method, url, body, scope in attempts:
        response = getattr(read_only, method)(url, body, format="json")
        assert response.status_code == 403, url
        error = response.json()["error"]
        assert error == {
            "message": "This API key lacks the scope needed for this operation. Missing scopes: "
            f"{scope}. Create a key with them in your account.",
            "type": "permission_error",
            "param": None,
            "code": "missing_scope",
        }
    other.refresh_from_db()
    assert other.revoked_at is None
    assert not WebhookEndpoint.objects.exists()
