"""The staff console's API (/api/v1/staff/) and the appeals and reports endpoints, over HTTP."""

import datetime
import uuid

import pytest
from rest_framework.test import APIClient

from accounts.services.api_keys import api_key_create
from moderation.models import AuditLogEntry, Case, Decision, Outcome, PublicFigure, Suspension
from moderation.services.cases import case_open
from tests.factories import UserFactory
from tests.moderation.process_helpers import make_decision, make_image, make_staff

pytestmark = pytest.mark.django_db

STAFF_ENDPOINTS = [
    ("get", "/api/v1/staff/cases"),
    ("get", "/api/v1/staff/cases/1"),
    ("post", "/api/v1/staff/cases/1/claim"),
    ("post", "/api/v1/staff/cases/1/release"),
    ("post", "/api/v1/staff/cases/1/resolve"),
    ("get", "/api/v1/staff/decisions"),
    ("get", "/api/v1/staff/decisions/1"),
    ("get", "/api/v1/staff/users/1"),
    ("get", "/api/v1/staff/users/1/strikes"),
    ("get", "/api/v1/staff/users/1/suspensions"),
    ("post", "/api/v1/staff/users/1/suspensions"),
    ("post", "/api/v1/staff/users/1/warn"),
    ("post", "/api/v1/staff/suspensions/1/lift"),
    ("get", "/api/v1/staff/figures"),
    ("post", "/api/v1/staff/figures"),
    ("get", "/api/v1/staff/policy"),
    ("post", "/api/v1/staff/policy"),
    ("get", "/api/v1/staff/policy/history"),
    ("get", "/api/v1/staff/transparency"),
    ("get", "/api/v1/staff/audit-log"),
]


def _client(user=None) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=None)
        client.force_login(user)
    return client


@pytest.fixture
def staff_client():  # type: ignore[no-untyped-def]
    staff = make_staff()
    client = _client(staff)
    client.staff = staff
    return client


def _error(response) -> dict:  # type: ignore[no-untyped-def]
    return response.json()["error"]


@pytest.mark.parametrize(("method", "url"), STAFF_ENDPOINTS)
def test_staff_endpoints_refuse_everyone_else(method, url):
    anonymous = getattr(_client(), method)(url, {}, format="json")
    assert anonymous.status_code == 401
    customer = getattr(_client(UserFactory()), method)(url, {}, format="json")
    assert customer.status_code == 403
    assert _error(customer)["code"] == "permission_denied"
    no_two_factor = getattr(_client(make_staff(two_factor=False)), method)(url, {}, format="json")
    assert no_two_factor.status_code == 403
    assert "two-factor" in _error(no_two_factor)["message"]
    assert not AuditLogEntry.objects.exists()


def test_an_api_key_does_not_reach_the_staff_api():
    """Session only: a staff member's API key would skip the two-factor login."""
    staff = make_staff()
    created = api_key_create(user=staff, name="script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.secret}")
    assert client.get("/api/v1/staff/cases").status_code == 401


def test_the_queue_is_ordered_and_filtered(staff_client):
    mild = case_open(source=Case.Source.REPORT, category="deception", image_id=uuid.uuid4())
    severe = case_open(source=Case.Source.APPEAL, category="self_harm", image_id=uuid.uuid4())
    response = staff_client.get("/api/v1/staff/cases")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["data"]] == [severe.pk, mild.pk]
    assert response.json()["has_more"] is False
    only = staff_client.get("/api/v1/staff/cases", {"source": "report", "limit": 1}).json()
    assert [row["id"] for row in only["data"]] == [mild.pk]
    bad = staff_client.get("/api/v1/staff/cases", {"category": "rudeness"})
    assert bad.status_code == 400 and _error(bad)["param"] == "category"
    bad_limit = staff_client.get("/api/v1/staff/cases", {"limit": 1000})
    assert bad_limit.status_code == 400 and _error(bad_limit)["param"] == "limit"


def test_claim_then_resolve_through_the_api(staff_client):
    user = UserFactory()
    decision = make_decision(user=user, stage=Decision.Stage.OUTPUT, categories=["violence"])
    case = case_open(source=Case.Source.REVIEW_DECISION, decision=decision)
    detail = staff_client.get(f"/api/v1/staff/cases/{case.pk}").json()
    assert detail["decision"]["categories"] == ["violence"]
    claimed = staff_client.post(f"/api/v1/staff/cases/{case.pk}/claim")
    assert claimed.status_code == 200 and claimed.json()["assignee"]["id"] == staff_client.staff.pk
    other = _client(make_staff())
    taken = other.post(f"/api/v1/staff/cases/{case.pk}/claim")
    assert taken.status_code == 409 and _error(taken)["code"] == "conflict"

    no_reason = staff_client.post(
        f"/api/v1/staff/cases/{case.pk}/resolve",
        {"resolution": "upheld", "actions": ["warn"]},
        format="json",
    )
    assert no_reason.status_code == 400 and _error(no_reason)["param"] == "reason"
    bad_action = staff_client.post(
        f"/api/v1/staff/cases/{case.pk}/resolve",
        {"resolution": "upheld", "actions": ["shout"], "reason": "r"},
        format="json",
    )
    assert bad_action.status_code == 400 and _error(bad_action)["param"] == "actions"
    case.refresh_from_db()
    assert case.state == Case.State.CLAIMED and not Suspension.objects.exists()

    body = {
        "resolution": "upheld",
        "actions": ["warn", {"type": "suspend", "days": 7}],
        "reason": "Gore, second time.",
    }
    resolved = staff_client.post(f"/api/v1/staff/cases/{case.pk}/resolve", body, format="json")
    assert resolved.status_code == 200, resolved.json()
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["actions"] == [{"type": "warn"}, {"type": "suspend", "days": 7}]
    again = staff_client.post(f"/api/v1/staff/cases/{case.pk}/resolve", body, format="json")
    assert again.status_code == 200
    assert Suspension.objects.filter(user=user).count() == 1
    standing = staff_client.get(f"/api/v1/staff/users/{user.pk}").json()
    assert standing["active_suspension"]["case_id"] == case.pk
    assert standing["active_suspension"]["is_ban"] is False


def test_decisions_are_listed_and_filtered(staff_client):
    user = UserFactory()
    hate = make_decision(user=user, categories=["hate"])
    make_decision(user=user, categories=["violence"], outcome=Outcome.REVIEW)
    rows = staff_client.get("/api/v1/staff/decisions", {"category": "hate"}).json()["data"]
    assert [row["id"] for row in rows] == [hate.pk]
    rows = staff_client.get("/api/v1/staff/decisions", {"outcome": "review"}).json()["data"]
    assert [row["categories"] for row in rows] == [["violence"]]
    assert staff_client.get(f"/api/v1/staff/decisions/{hate.pk}").json()["policy_version"] >= 1
    assert staff_client.get("/api/v1/staff/decisions/999999").status_code == 404


def test_suspend_ban_lift_and_warn_a_user(staff_client):
    user = UserFactory()
    url = f"/api/v1/staff/users/{user.pk}/suspensions"
    both = staff_client.post(url, {"days": 3, "ban": True, "reason": "r"}, format="json")
    assert both.status_code == 400
    neither = staff_client.post(url, {"reason": "r"}, format="json")
    assert neither.status_code == 400
    assert not Suspension.objects.exists()

    suspended = staff_client.post(
        url, {"days": 3, "reason": "Spam.", "end_user": "u1"}, format="json"
    )
    assert suspended.status_code == 201 and suspended.json()["end_user"] == "u1"
    banned = staff_client.post(url, {"ban": True, "reason": "Severe."}, format="json")
    assert banned.status_code == 201 and banned.json()["is_ban"] is True
    listed = staff_client.get(url).json()["data"]
    assert [row["is_ban"] for row in listed] == [True, False]

    lift_url = f"/api/v1/staff/suspensions/{banned.json()['id']}/lift"
    assert staff_client.post(lift_url, {}, format="json").status_code == 400  # no reason
    lifted = staff_client.post(lift_url, {"reason": "Wrong person."}, format="json")
    assert lifted.status_code == 200 and lifted.json()["lifted_at"] is not None

    warned = staff_client.post(f"/api/v1/staff/users/{user.pk}/warn", {"reason": "Be careful."})
    assert warned.status_code == 200
    assert staff_client.post("/api/v1/staff/users/999999/warn", {"reason": "x"}).status_code == 404
    actions = list(
        AuditLogEntry.objects.filter(actor=staff_client.staff)
        .order_by("created_at", "pk")
        .values_list("action", flat=True)
    )
    assert actions == ["user.suspend", "user.ban", "suspension.lift", "user.warn"]


def test_the_audit_log_is_filterable(staff_client):
    user = UserFactory()
    staff_client.post(f"/api/v1/staff/users/{user.pk}/warn", {"reason": "One."})
    other = make_staff()
    _client(other).post(f"/api/v1/staff/users/{user.pk}/warn", {"reason": "Two."})
    everything = staff_client.get("/api/v1/staff/audit-log").json()["data"]
    assert [row["reason"] for row in everything] == ["Two.", "One."]
    mine = staff_client.get("/api/v1/staff/audit-log", {"actor_id": staff_client.staff.pk}).json()
    assert [row["reason"] for row in mine["data"]] == ["One."]
    assert mine["data"][0]["actor"]["email"] == staff_client.staff.email
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)).isoformat()
    assert staff_client.get("/api/v1/staff/audit-log", {"since": later}).json()["data"] == []
    assert staff_client.get("/api/v1/staff/audit-log", {"since": "yesterday"}).status_code == 400


def test_transparency_figures_are_served(staff_client):
    user = UserFactory()
    make_decision(user=user, stage=Decision.Stage.OUTPUT, outcome=Outcome.ALLOW, categories=[])
    make_decision(
        user=user, stage=Decision.Stage.OUTPUT, outcome=Outcome.BLOCK, categories=["hate"]
    )
    response = staff_client.get("/api/v1/staff/transparency")
    assert response.status_code == 200
    rows = {row["category"]: row for row in response.json()["data"]}
    assert rows["all"]["screened"] == 2 and rows["all"]["flagged_share"] == 0.5
    assert rows["hate"]["confirmed_share"] is None
    assert staff_client.get("/api/v1/staff/transparency", {"since": "soon"}).status_code == 400


def test_the_policy_and_its_history(staff_client):
    current = staff_client.get("/api/v1/staff/policy").json()
    assert current["version"] >= 1 and "public_figure" in current["rules"]
    history = staff_client.get("/api/v1/staff/policy/history").json()["data"]
    assert history[0]["version"] == current["version"]
    refused = staff_client.post("/api/v1/staff/policy", {"rules": {}, "reason": " "}, format="json")
    assert refused.status_code == 400


def test_the_registry_is_searchable(staff_client):
    PublicFigure.objects.create(name="Qzxa Example", aliases=["The Qzxa Countess"])
    PublicFigure.objects.create(name="Qzxb Sample", aliases=[])
    found = staff_client.get("/api/v1/staff/figures", {"q": "qzxa countess"}).json()["data"]
    assert [row["name"] for row in found] == ["Qzxa Example"]
    found = staff_client.get("/api/v1/staff/figures", {"q": "QZX"}).json()["data"]
    assert [row["name"] for row in found] == ["Qzxa Example", "Qzxb Sample"]


# --- appeals and reports -------------------------------------------------------------------


def test_a_user_appeals_a_block():
    user = UserFactory()
    decision = make_decision(user=user)
    client = _client(user)
    created = client.post("/api/v1/appeals", {"decision_id": decision.pk, "text": "A film still."})
    assert created.status_code == 201
    assert created.json()["status"] == "pending"
    twice = client.post("/api/v1/appeals", {"decision_id": decision.pk, "text": "Again."})
    assert twice.status_code == 409
    empty = client.post("/api/v1/appeals", {"decision_id": decision.pk, "text": ""})
    assert empty.status_code == 400 and _error(empty)["param"] == "text"
    someone_else = _client(UserFactory()).post(
        "/api/v1/appeals", {"decision_id": decision.pk, "text": "mine?"}
    )
    assert someone_else.status_code == 404
    assert (
        _client().post("/api/v1/appeals", {"decision_id": decision.pk, "text": "x"}).status_code
        == 401
    )
    assert Case.objects.filter(source=Case.Source.APPEAL).count() == 1


def test_anyone_reports_a_shared_image(settings):
    settings.MODERATION_ANONYMOUS_REPORTS_PER_HOUR = 2
    image = make_image(user=UserFactory(), shared=True)
    visitor = _client()
    first = visitor.post("/api/v1/reports", {"image_id": str(image.pk), "reason": "hate"})
    assert first.status_code == 201, first.json()
    unknown = visitor.post("/api/v1/reports", {"image_id": str(uuid.uuid4()), "reason": "hate"})
    assert unknown.status_code == 404
    throttled = visitor.post("/api/v1/reports", {"image_id": str(image.pk), "reason": "hate"})
    assert throttled.status_code == 429 and _error(throttled)["code"] == "rate_limit_exceeded"
    bad = _client(UserFactory()).post(
        "/api/v1/reports", {"image_id": str(image.pk), "reason": "meh"}
    )
    assert bad.status_code == 400 and _error(bad)["param"] == "reason"
    assert Case.objects.get(source=Case.Source.REPORT).image_id == image.pk


def test_a_policy_change_through_the_api_is_a_new_audited_version(staff_client):
    before = staff_client.get("/api/v1/staff/policy").json()["version"]
    changed = staff_client.post(
        "/api/v1/staff/policy",
        {"rules": {"deception": {"action": "block"}}, "reason": "Election season."},
        format="json",
    )
    assert changed.status_code == 201, changed.json()
    assert changed.json()["version"] == before + 1
    assert changed.json()["rules"]["deception"]["action"] == "block"
    assert changed.json()["created_by"]["id"] == staff_client.staff.pk
    entry = AuditLogEntry.objects.get(action="policy.update")
    assert entry.actor == staff_client.staff and entry.reason == "Election season."


def test_a_figure_added_through_the_api(staff_client):
    added = staff_client.post(
        "/api/v1/staff/figures",
        {"name": "Qzxc Person", "aliases": ["Q. Person"], "ambiguous_aliases": ["Qzxc"]},
        format="json",
    )
    assert added.status_code == 201, added.json()
    assert added.json()["aliases"] == ["Q. Person"] and added.json()["faces"] == 0
    assert AuditLogEntry.objects.filter(action="figure.add", actor=staff_client.staff).exists()
    nameless = staff_client.post("/api/v1/staff/figures", {"name": ""}, format="json")
    assert nameless.status_code == 400 and _error(nameless)["param"] == "name"
