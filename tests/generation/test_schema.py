"""The OpenAPI schema at /api/schema/: valid OpenAPI, and complete enough that schemathesis can
generate requests for every generation operation (OpenAI-compatible and native) and the server
answers each without a 5xx and, when it succeeds, in the documented shape."""

import re

import hypothesis
import pytest
import schemathesis
from django.test import Client
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.generation.api_helpers import customer

OUR_PATHS = r"^/(v1/|api/v1/(generations|images|webhooks|provenance|collections))"
EXPECTED_OPERATIONS = {
    ("POST", "/v1/images/generations"),
    ("POST", "/v1/images/edits"),
    ("POST", "/v1/images/variations"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{model_id}"),
    ("POST", "/api/v1/generations"),
    ("POST", "/api/v1/generations/preflight"),
    ("GET", "/api/v1/generations/{generation_id}"),
    ("GET", "/api/v1/generations/{generation_id}/events"),
    ("POST", "/api/v1/generations/{generation_id}/cancel"),
    ("GET", "/api/v1/images"),
    ("GET", "/api/v1/images/{image_id}"),
    ("DELETE", "/api/v1/images/{image_id}"),
    ("POST", "/api/v1/images/{image_id}/share"),
    ("DELETE", "/api/v1/images/{image_id}/share"),
    ("GET", "/api/v1/collections"),
    ("POST", "/api/v1/collections"),
    ("GET", "/api/v1/collections/{collection_id}"),
    ("PATCH", "/api/v1/collections/{collection_id}"),
    ("DELETE", "/api/v1/collections/{collection_id}"),
    ("POST", "/api/v1/collections/{collection_id}/images/{image_id}"),
    ("DELETE", "/api/v1/collections/{collection_id}/images/{image_id}"),
    ("POST", "/api/v1/provenance/check"),
    ("GET", "/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks"),
    ("GET", "/api/v1/webhooks/{endpoint_id}"),
    ("PATCH", "/api/v1/webhooks/{endpoint_id}"),
    ("DELETE", "/api/v1/webhooks/{endpoint_id}"),
    ("GET", "/api/v1/webhooks/{endpoint_id}/deliveries"),
    ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/replay"),
}


@pytest.mark.django_db
def test_schema_is_valid_openapi_and_documents_every_operation():
    response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    document = response.json()
    # Generation's operations, with every component: other apps' paths are their tests' concern.
    ours = {path: item for path, item in document["paths"].items() if re.match(OUR_PATHS, path)}
    validate({**document, "paths": ours})  # openapi-spec-validator: raises on any violation
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "post", "patch", "put", "delete"}
    }
    assert documented >= EXPECTED_OPERATIONS, EXPECTED_OPERATIONS - documented
    generations = document["paths"]["/api/v1/generations"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in generations["parameters"])
    assert set(generations["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    multipart = generations["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    fields = document["components"]["schemas"][multipart.rpartition("/")[2]]["properties"]
    assert fields["references"]["type"] == "array"  # reference images beside `image`
    assert fields["references"]["items"]["format"] == fields["image"]["format"]  # files alike
    for path, prefix in (
        ("/v1/images/generations", "image_generation"),
        ("/v1/images/edits", "image_edit"),
        ("/v1/images/variations", "image_edit"),
    ):  # `stream=true` answers Server-Sent Events: described beside the JSON answer
        answers = document["paths"][path]["post"]["responses"]["200"]["content"]
        assert set(answers) == {"application/json", "text/event-stream"}, path
        assert f"{prefix}.completed" in answers["text/event-stream"]["examples"]["Stream"]["value"]


@pytest.fixture
def broke_customer(settings):  # type: ignore[no-untyped-def]
    # No credits: a valid generation stops at the reservation (429 insufficient_quota), so the
    # fuzzing never waits on a pipeline, yet every step before it runs for real.
    return customer(tier="pro", credits=0, settings=settings)


@pytest.fixture
def _keep_test_connection():  # type: ignore[no-untyped-def]
    """The raw WSGI handler closes old connections on request signals, the test's own one
    included; Django's test client disconnects them the same way."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@pytest.mark.usefixtures("_keep_test_connection")
def test_every_operation_answers_without_server_errors(settings, broke_customer):
    """Schemathesis generates requests from the schema for each operation; none may 5xx, and
    every answer's status must be documented, and every body must match its schema."""
    settings.EASEL_API_SHARED_THREAD_POOL = False  # the WSGI call runs on this test's thread
    settings.EASEL_API_WAIT_TIMEOUT = 5
    from config.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    schema = schema.include(path_regex=OUR_PATHS)
    exercised = set()
    statuses: dict[tuple[str, str], set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        exercised.add((operation.method.upper(), operation.path))

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=5,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def exercise(case) -> None:  # type: ignore[no-untyped-def]
            response = case.call_and_validate(
                headers={"Authorization": f"Bearer {broke_customer.secret}"},
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            )
            statuses.setdefault((case.method, case.path), set()).add(response.status_code)

        exercise()
    assert exercised == {(method, path) for method, path in EXPECTED_OPERATIONS}
    assert set(statuses) == exercised  # each operation was really called
