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
    prefixes = (
        "/v1/",
        "/api/v1/keys",
        "/api/v1/billing/",
        "/api/v1/staff/",
        "/api/v1/appeals",
        "/api/v1/decisions",
        "/api/v1/suspensions",
    )
    for prefix in prefixes:
        assert any(path.startswith(prefix) for path in document["paths"]), prefix


@pytest.mark.django_db
def test_a_block_documents_its_decision_and_appeal_url():
    document = Client().get("/api/schema/", {"format": "json"}).json()
    error = document["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
    assert {"decision_id", "appeal_url"} <= set(error)
    appeal = document["paths"]["/api/v1/decisions/{decision_id}/appeal"]["post"]
    assert {"201", "400", "401", "403", "404", "409"} <= set(appeal["responses"])
