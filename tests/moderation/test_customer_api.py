"""What an integrator sees of moderation through the API: a block names its decision and where
to appeal it; the account's blocked decisions (one end user's, filtered); appeals filed through
the API; the suspended end users. Then schemathesis over these operations."""

import hypothesis
import pytest
import schemathesis
from django.test import Client
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from moderation.models import Appeal, Case, Decision
from moderation.services.enforcement import suspension_for_days
from moderation.services.strikes import strike_record
from tests.generation.api_helpers import customer
from tests.moderation.process_helpers import make_decision, make_staff

pytestmark = pytest.mark.django_db

BLOCKED_PROMPT = "explicit pornographic nude sex scene"
OUR_PATHS = r"^/api/v1/(decisions|suspensions|appeals)"


@pytest.fixture
def integrator(settings):  # type: ignore[no-untyped-def]
    # The async views' database work on the request's thread, to see the test's transaction.
    settings.EASEL_API_SHARED_THREAD_POOL = False
    return customer(tier="pro", credits=100, settings=settings)


def _assert_block(response, *, param: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "content_policy_violation" and error["param"] == param
    decision = Decision.objects.get(pk=error["decision_id"])
    assert decision.outcome == "block"
    assert error["appeal_url"] == f"http://testserver/api/v1/decisions/{decision.pk}/appeal"
    return error


def test_a_block_names_its_decision_and_the_appeal_url_on_both_apis(integrator, settings):
    settings.SITE_URL = "http://testserver"
    http = Client()
    openai = http.post(
        "/v1/images/generations",
        {"prompt": BLOCKED_PROMPT, "size": "256x256", "user": "player-7"},
        content_type="application/json",
        **integrator.auth,
    )
    first = _assert_block(openai, param="prompt")
    assert Decision.objects.get(pk=first["decision_id"]).end_user == "player-7"
    native = http.post(
        "/api/v1/generations",
        {"operation": "generate", "prompt": BLOCKED_PROMPT, "size": "256x256"},
        content_type="application/json",
        **integrator.auth,
    )
    second = _assert_block(native, param="prompt")
    assert second["decision_id"] != first["decision_id"]

    # The appeal URL works as it is given: POST the reason.
    appealed = http.post(
        first["appeal_url"].removeprefix("http://testserver"),
        {"text": "A museum's life-drawing class, nothing explicit."},
        content_type="application/json",
        **integrator.auth,
    )
    assert appealed.status_code == 201, appealed.content
    assert appealed.json()["status"] == "pending"
    appeal = Appeal.objects.get(pk=appealed.json()["id"])
    assert appeal.decision_id == first["decision_id"] and appeal.case.source == Case.Source.APPEAL
    again = http.post(
        first["appeal_url"].removeprefix("http://testserver"),
        {"text": "Again."},
        content_type="application/json",
        **integrator.auth,
    )
    assert again.status_code == 409 and Appeal.objects.count() == 1


def test_the_decisions_list_shows_the_accounts_blocks_and_filters_by_end_user(integrator):
    user = integrator.user
    mine = make_decision(user=user, end_user="player-7", categories=["violence"])
    own = make_decision(user=user, categories=["hate"])
    make_decision(user=user, outcome="allow")  # not a block: not listed
    make_decision(user=customer(settings=None).user)  # someone else's
    http = Client()
    listed = http.get("/api/v1/decisions", **integrator.auth).json()
    assert [row["id"] for row in listed["data"]] == [own.pk, mine.pk]
    row = listed["data"][1]
    assert row["end_user"] == "player-7" and row["stage"] == "prompt"
    assert row["message"] == "Easel does not make images of graphic violence or serious injury."
    assert row["appeal"] is None and row["appeal_url"].endswith(f"/decisions/{mine.pk}/appeal")
    assert "scores" not in row and "prompt" not in row  # what fired stays with staff
    one = http.get("/api/v1/decisions", {"end_user": "player-7"}, **integrator.auth).json()
    assert [row["id"] for row in one["data"]] == [mine.pk]
    without = http.get("/api/v1/decisions", {"end_user": ""}, **integrator.auth).json()
    assert [row["id"] for row in without["data"]] == [own.pk]
    page = http.get("/api/v1/decisions", {"limit": 1}, **integrator.auth).json()
    assert page["has_more"] and len(page["data"]) == 1
    rest = http.get(
        "/api/v1/decisions", {"limit": 1, "cursor": page["next_cursor"]}, **integrator.auth
    ).json()
    assert [row["id"] for row in rest["data"]] == [mine.pk]

    http.post(
        f"/api/v1/decisions/{mine.pk}/appeal",
        {"text": "A boxing match."},
        content_type="application/json",
        **integrator.auth,
    )
    row = http.get("/api/v1/decisions", {"end_user": "player-7"}, **integrator.auth).json()["data"][
        0
    ]
    assert row["appeal"]["status"] == "pending" and row["appeal_url"] is None


def test_appealing_through_the_api_refuses_what_is_not_the_accounts_block(integrator):
    http = Client()
    stranger = make_decision(user=customer(settings=None).user)
    allowed = make_decision(user=integrator.user, outcome="allow")
    for decision_id, status in [(stranger.pk, 404), (allowed.pk, 400), (2**62, 404)]:
        response = http.post(
            f"/api/v1/decisions/{decision_id}/appeal",
            {"text": "Please."},
            content_type="application/json",
            **integrator.auth,
        )
        assert response.status_code == status, (decision_id, response.content)
    mine = make_decision(user=integrator.user)
    for body, param in [({}, "text"), ({"text": "x" * 1001}, "text"), ({"text": "  "}, "text")]:
        response = http.post(
            f"/api/v1/decisions/{mine.pk}/appeal",
            body,
            content_type="application/json",
            **integrator.auth,
        )
        assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert not Appeal.objects.exists()


def test_integrators_list_their_suspended_end_users(integrator, settings):
    settings.MODERATION_STRIKES_PER_END_USER = 2
    user = integrator.user
    for _ in range(2):
        strike_record(user=user, end_user="cheater-1", decision=make_decision(user=user))
    suspension_for_days(
        user=user, days=3, reason="Staff note: matched a list.", actor=make_staff(), end_user="b-2"
    )
    listed = Client().get("/api/v1/suspensions", **integrator.auth).json()["data"]
    assert {row["end_user"] for row in listed} == {"cheater-1", "b-2"}
    for row in listed:
        assert row["banned"] is False and row["ends_at"]
        assert "Staff note" not in row["message"]  # the person's words, not the staff's
        assert row["message"].startswith("This end user")
    one = Client().get("/api/v1/suspensions", {"end_user": "b-2"}, **integrator.auth).json()
    assert [row["end_user"] for row in one["data"]] == ["b-2"]


@pytest.fixture
def _keep_test_connection():  # type: ignore[no-untyped-def]
    """The raw WSGI handler closes old connections on request signals, the test's own one
    included (as tests/generation/test_schema.py explains)."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.mark.usefixtures("_keep_test_connection")
def test_schemathesis_finds_no_server_error_and_every_answer_matches_the_schema(integrator):
    from config.wsgi import application

    make_decision(user=integrator.user, end_user="player-7")
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    schema = schema.include(path_regex=OUR_PATHS)
    called = set()
    for result in schema.get_all_operations():
        operation = result.ok()

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def exercise(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate(
                headers={"Authorization": f"Bearer {integrator.secret}"},
                checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
            )
            called.add((case.method, case.path))

        exercise()
    assert called == {
        ("GET", "/api/v1/decisions"),
        ("POST", "/api/v1/decisions/{decision_id}/appeal"),
        ("POST", "/api/v1/appeals"),
        ("GET", "/api/v1/suspensions"),
    }
