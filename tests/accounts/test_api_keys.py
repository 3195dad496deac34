"""API keys: only a hash is stored, every 401 has OpenAI's shape, revocation is immediate."""

import pytest
from django.apps import apps
from django.db import connection, models

from accounts.models import ApiKey
from accounts.services.api_keys import api_key_create, api_key_hash, api_key_revoke

ACCOUNT_URL = "/api/v1/account"
KEYS_URL = "/api/v1/keys"


def _text_columns() -> list[tuple[type[models.Model], str]]:
    """Every column of every installed table that can hold text."""
    text_types = (models.CharField, models.TextField, models.JSONField, models.BinaryField)
    return [
        (model, field.name)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, text_types)
    ]


def test_the_database_never_holds_a_key_secret(user, api_client):
    api_client.force_authenticate(user)
    response = api_client.post(KEYS_URL, {"name": "prod", "scopes": ["images.read"]}, format="json")
    assert response.status_code == 201
    secret = response.json()["secret"]
    assert secret.startswith("sk-") and len(secret) >= 3 + 32
    via_service = api_key_create(user=user, name="other").secret

    columns = _text_columns()
    assert len(columns) > 20  # the search really covers the schema
    for model, name in columns:
        for value in model.objects.values_list(name, flat=True):
            text = value.hex() if isinstance(value, bytes | memoryview) else str(value)
            for needle in (secret, via_service, secret[11:], via_service[11:]):
                assert needle not in text, f"{model.__name__}.{name} holds a key secret"
    # Raw SQL as well: nothing outside the ORM's view of the tables holds it either.
    with connection.cursor() as cursor:
        for model, name in columns:
            table, column = model._meta.db_table, model._meta.get_field(name).column
            cursor.execute(
                f'SELECT COUNT(*) FROM "{table}" WHERE CAST("{column}" AS TEXT) LIKE %s',
                [f"%{secret[11:]}%"],
            )
            assert cursor.fetchone()[0] == 0
    stored = ApiKey.objects.get(prefix=secret[:11])
    assert stored.secret_hash == api_key_hash(secret)


def test_a_key_authenticates_and_its_secret_is_never_listed(created_key, key_client):
    response = key_client.get(KEYS_URL)
    assert response.status_code == 200
    listed = response.json()["data"]
    assert [k["prefix"] for k in listed] == [created_key.key.prefix]
    assert set(listed[0]) == {
        "prefix",
        "name",
        "scopes",
        "monthly_credit_cap",
        "expires_at",
        "created_at",
        "last_used_at",
        "revoked_at",
    }
    assert created_key.secret not in response.content.decode()
    assert listed[0]["last_used_at"] is not None


def _assert_invalid_api_key(response, message_part: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "invalid_api_key"
    assert body["error"]["param"] is None
    assert message_part in body["error"]["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["x-request-id"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("header", "message_part"),
    [
        (None, "You didn't provide an API key"),
        ("Basic dXNlcjpwYXNz", "Malformed Authorization header"),
        ("Bearer", "Malformed Authorization header"),
        ("Bearer    ", "Malformed Authorization header"),
        ("sk-onlythekey", "Malformed Authorization header"),
        ("Bearer sk-" + "x" * 43, "Incorrect API key provided: sk-****xxxx"),
        ("Bearer not-even-a-key", "Incorrect API key provided"),
    ],
    ids=["missing", "basic", "empty", "blank", "no-scheme", "unknown", "not-a-key"],
)
def test_every_bad_key_gets_openais_401(api_client, header, message_part):
    if header is not None:
        api_client.credentials(HTTP_AUTHORIZATION=header)
    _assert_invalid_api_key(api_client.get(ACCOUNT_URL), message_part)


def test_a_revoked_key_fails_on_its_very_next_request(created_key, key_client):
    assert key_client.get(ACCOUNT_URL).status_code == 200
    api_key_revoke(key=created_key.key)
    _assert_invalid_api_key(key_client.get(ACCOUNT_URL), "Incorrect API key provided")


def test_revoking_through_the_api_is_immediate_and_idempotent(user, created_key, api_client):
    other = api_key_create(user=user, name="to revoke")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {created_key.secret}")
    response = api_client.delete(f"{KEYS_URL}/{other.key.prefix}")
    assert response.status_code == 200
    first_revoked_at = response.json()["revoked_at"]
    assert first_revoked_at is not None
    again = api_client.delete(f"{KEYS_URL}/{other.key.prefix}")
    assert again.json()["revoked_at"] == first_revoked_at  # the first revocation stands
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {other.secret}")
    _assert_invalid_api_key(api_client.get(ACCOUNT_URL), "Incorrect API key provided")
    # A key may revoke itself; the request that does it is the last one it makes.
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {created_key.secret}")
    assert api_client.delete(f"{KEYS_URL}/{created_key.key.prefix}").status_code == 200
    _assert_invalid_api_key(api_client.get(KEYS_URL), "Incorrect API key provided")


def test_a_key_of_a_deactivated_user_is_refused(user, key_client):
    user.is_active = False
    user.save()
    _assert_invalid_api_key(key_client.get(ACCOUNT_URL), "Incorrect API key provided")


def test_nobody_revokes_or_sees_another_users_key(created_key, api_client):
    from tests.factories import UserFactory

    stranger = api_key_create(user=UserFactory(), name="stranger")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {created_key.secret}")
    response = api_client.delete(f"{KEYS_URL}/{stranger.key.prefix}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    stranger.key.refresh_from_db()
    assert stranger.key.revoked_at is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "ok", "scopes": ["images.delete"]}, "scopes"),
        ({"name": "ok", "scopes": []}, "scopes"),
        ({"name": "ok", "monthly_credit_cap": -1}, "monthly_credit_cap"),
    ],
)
def test_bad_key_requests_get_a_400_and_create_nothing(user, api_client, body, param):
    api_client.force_authenticate(user)
    response = api_client.post(KEYS_URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert not ApiKey.objects.exists()


def test_a_session_user_creates_a_key_with_a_cap(user, api_client):
    api_client.force_login(user)
    response = api_client.post(
        KEYS_URL, {"name": "capped", "monthly_credit_cap": 200}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["monthly_credit_cap"] == 200
    # The default: what generating needs, not managing keys, webhooks or billing.
    assert body["scopes"] == [
        "images.generate",
        "images.read",
        "moderation.read",
        "moderation.write",
    ]
    assert ApiKey.objects.get(prefix=body["prefix"]).monthly_credit_cap == 200


def test_an_account_holds_at_most_fifty_active_keys(user, api_client, settings):
    from accounts.services.api_keys import MAX_ACTIVE_KEYS_PER_USER

    keys = [api_key_create(user=user, name=f"k{i}").key for i in range(MAX_ACTIVE_KEYS_PER_USER)]
    api_client.force_authenticate(user)
    refused = api_client.post(KEYS_URL, {"name": "one too many"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "too_many_api_keys"
    assert ApiKey.objects.count() == MAX_ACTIVE_KEYS_PER_USER
    api_key_revoke(key=keys[0])
    assert api_client.post(KEYS_URL, {"name": "replacement"}, format="json").status_code == 201
