"""GET /api/v1/account: who you are and what your tier allows; and the schema documents it."""

import pytest

from accounts.models import Tier


def test_the_account_shows_the_tier_limits(user, key_client):
    response = key_client.get("/api/v1/account")
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == user.email
    assert body["email_verified"] is True
    assert body["two_factor_enabled"] is False
    free = Tier.objects.get(name="free")
    assert body["tier"]["name"] == "free"
    assert body["tier"]["max_n"] == free.max_n
    assert body["tier"]["sizes"] == ["256x256", "512x512"]
    assert body["tier"]["requests_per_minute"] == free.requests_per_minute


def test_other_methods_get_openais_405(key_client):
    response = key_client.put("/api/v1/account", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_the_schema_documents_every_accounts_operation(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operations = {
        (path, method): op["operationId"]
        for path, methods in schema["paths"].items()
        for method, op in methods.items()
    }
    assert operations[("/api/v1/account", "get")] == "account_retrieve"
    assert operations[("/api/v1/account", "delete")] == "account_delete"
    assert operations[("/api/v1/keys", "get")] == "api_keys_list"
    assert operations[("/api/v1/keys", "post")] == "api_keys_create"
    assert operations[("/api/v1/keys/{prefix}", "delete")] == "api_keys_revoke"
    assert "secret" in schema["components"]["schemas"]["ApiKeyCreated"]["properties"]
    assert "secret_hash" not in str(schema)
