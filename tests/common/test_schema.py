"""The whole project's OpenAPI schema: every app's operations together form valid OpenAPI."""

import pytest
from django.test import Client
from openapi_spec_validator import validate


@pytest.mark.django_db
def test_the_whole_schema_is_valid_openapi():
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    document = response.json()
    validate(document)  # raises on any violation, in any app's operations
    prefixes = ("/v1/", "/api/v1/keys", "/api/v1/billing/", "/api/v1/staff/", "/api/v1/appeals")
    for prefix in prefixes:
        assert any(path.startswith(prefix) for path in document["paths"]), prefix
