"""Malformed input is refused at the edge with the API's own error, never a 500 from inside the
database or a URL parser, and changes nothing. (The web forms: tests/frontend/test_form_fuzz.py.)"""

import json

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from accounts.models import ApiKey
from generation.models import Generation, WebhookEndpoint
from tests.generation.api_helpers import customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def who(settings):  # type: ignore[no-untyped-def]
    settings.EASEL_API_SHARED_THREAD_POOL = False
    return customer(tier="pro", credits=100, settings=settings)


def _refused(response, *, param: str | None, code: str | None = "invalid_characters") -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.content
    assert response["x-request-id"]
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["param"] == param
    if code is not None:
        assert error["code"] == code
    return error


def test_a_nul_in_a_path_query_header_or_json_body_is_a_400_naming_the_field(who):
    http = Client()
    keys = ApiKey.objects.count()
    error = _refused(http.delete("/api/v1/keys/%00", **who.auth), param=None)
    assert "NUL character" in error["message"]
    _refused(http.get("/api/v1/images", {"prompt": "a\x00"}, **who.auth), param="prompt")
    _refused(
        http.post(
            "/v1/images/generations",
            json.dumps({"prompt": "a cat\u0000", "n": 1}),
            content_type="application/json",
            **who.auth,
        ),
        param="prompt",
    )
    _refused(
        http.post(
            "/api/v1/keys",
            json.dumps({"name": "ok", "scopes": ["images.read\u0000"]}),
            content_type="application/json",
            **who.auth,
        ),
        param="scopes.0",
    )
    _refused(
        http.post(
            "/api/v1/generations",
            {"operation": "generate", "prompt": "a cat"},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="key\x00",
            **who.auth,
        ),
        param="Idempotency-Key",
    )
    assert ApiKey.objects.count() == keys and not Generation.objects.exists()


def test_the_async_chain_refuses_the_same(who):
    async def post():  # type: ignore[no-untyped-def]
        return await AsyncClient().post(
            "/v1/images/generations",
            json.dumps({"prompt": "\u0000"}),
            content_type="application/json",
            headers={"Authorization": who.auth["HTTP_AUTHORIZATION"]},
        )

    _refused(async_to_sync(post)(), param="prompt")
    assert not Generation.objects.exists()


def test_a_backslash_followed_by_u0000_as_text_is_not_a_nul(who):
    response = Client().post(
        "/api/v1/keys",
        json.dumps({"name": "literally \\u0000", "scopes": ["images.read"]}),
        content_type="application/json",
        **who.auth,
    )
    assert response.status_code == 201
    assert response.json()["name"] == "literally \\u0000"


def test_a_monthly_cap_past_the_column_is_a_400_on_that_field(who):
    keys = ApiKey.objects.count()
    for cap in (2147483648, 10**30):
        response = Client().post(
            "/api/v1/keys",
            {"name": "big", "scopes": ["images.read"], "monthly_credit_cap": cap},
            content_type="application/json",
            **who.auth,
        )
        _refused(response, param="monthly_credit_cap", code=None)
    assert ApiKey.objects.count() == keys


@pytest.mark.parametrize(
    "url", ["https://[::1/", "https://[not-an-address]/", "https://example.com:99999/hook"]
)
def test_a_webhook_url_that_does_not_parse_is_a_400(who, url):
    response = Client().post(
        "/api/v1/webhooks", {"url": url}, content_type="application/json", **who.auth
    )
    _refused(response, param="url", code=None)
    assert not WebhookEndpoint.objects.exists()


def test_changing_a_webhook_to_a_url_that_does_not_parse_is_a_400(who):
    http = Client()
    created = http.post(
        "/api/v1/webhooks",
        {"url": "https://hooks.example.com/a"},
        content_type="application/json",
        **who.auth,
    ).json()
    response = http.patch(
        f"/api/v1/webhooks/{created['id']}",
        {"url": "https://[::1/"},
        content_type="application/json",
        **who.auth,
    )
    _refused(response, param="url", code=None)
    assert WebhookEndpoint.objects.get().url == "https://hooks.example.com/a"


def test_a_nul_in_a_multipart_field_is_refused_and_a_json_only_view_still_answers_415(who):
    from tests.generation.api_helpers import png_bytes, upload

    http = Client()
    response = http.post(
        "/v1/images/variations",
        {"image": upload("a.png", png_bytes(256)), "user": "player\x00", "size": "256x256"},
        **who.auth,
    )
    _refused(response, param="user")
    # A JSON-only view is not made to parse a form (it would lose the chance to say 415).
    wrong_type = http.post("/v1/images/generations", {"prompt": "a\x00cat"}, **who.auth)
    assert wrong_type.status_code == 415
    assert not Generation.objects.exists()
