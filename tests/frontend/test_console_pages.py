"""The staff console: who may enter, and each page's forms with good and bad input."""

import pytest

from billing.selectors import balance_summary
from generation.models import Image
from generation.services.sharing import share_enable
from moderation.models import AuditLogEntry, Case, PolicyVersion, PublicFigure
from moderation.services.cases import case_open_for_report
from tests.frontend.conftest import stored_image

pytestmark = pytest.mark.django_db

CONSOLE_PAGES = [
    "/console/",
    "/console/users/",
    "/console/figures/",
    "/console/policy/",
    "/console/transparency/",
    "/console/audit/",
]


@pytest.fixture
def reported(user):  # type: ignore[no-untyped-def]
    """A shared image someone reported: an open case in the queue."""
    image = stored_image(user=user, prompt="a gory battlefield")
    share = share_enable(user=user, image_id=image.pk)
    case = case_open_for_report(image_id=image.pk, reporter=None, reason="violence", details="gore")
    return image, share, case


def test_anonymous_visitors_are_sent_to_log_in(client):
    for url in CONSOLE_PAGES:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(
            "/accounts/login/"
        ), url


def test_customers_never_reach_the_console(user_client, reported):
    _, _, case = reported
    for url in [*CONSOLE_PAGES, f"/console/cases/{case.pk}/"]:
        assert user_client.get(url).status_code == 403, url
    assert (
        user_client.post(f"/console/cases/{case.pk}/resolve", {"resolution": "upheld"}).status_code
        == 403
    )
    case.refresh_from_db()
    assert case.state == Case.State.OPEN


def test_staff_without_two_factor_are_sent_to_set_it_up(client, staff_without_2fa):
    client.force_login(staff_without_2fa)
    for url in CONSOLE_PAGES:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(
            "/accounts/2fa/totp/activate/"
        ), url


def test_staff_with_two_factor_see_every_page(staff_client, reported, user):
    _, _, case = reported
    for url in [*CONSOLE_PAGES, f"/console/cases/{case.pk}/", f"/console/users/{user.pk}/"]:
        response = staff_client.get(url)
        assert response.status_code == 200, url
    queue = staff_client.get("/console/?category=violence&source=report").content.decode()
    assert f"/console/cases/{case.pk}/" in queue
    assert (
        f"/console/cases/{case.pk}/"
        not in staff_client.get("/console/?category=hate").content.decode()
    )
    assert staff_client.get("/console/?category=nonsense").status_code == 200  # shown, not crashed


def test_case_page_blurs_images_and_offers_shortcuts(staff_client, reported):
    image, _, case = reported
    body = staff_client.get(f"/console/cases/{case.pk}/").content.decode()
    assert 'class="tile reveal-wrap blurred"' in body
    assert f"/console/images/{image.pk}.png" in body
    assert 'data-shortcut="r"' in body and 'data-shortcut="u"' in body
    assert staff_client.get(f"/console/images/{image.pk}.png").status_code == 200


def test_resolve_needs_a_reason_and_changes_nothing_without_it(staff_client, reported):
    image, share, case = reported
    response = staff_client.post(
        f"/console/cases/{case.pk}/resolve",
        {"resolution": "upheld", "actions": ["remove_image"], "reason": ""},
        follow=True,
    )
    assert "reason" in response.content.decode().lower()
    case.refresh_from_db()
    image.refresh_from_db()
    assert case.state != Case.State.RESOLVED and image.status == Image.Status.DELIVERED


def test_claim_then_remove_the_image_and_the_share_page_is_gone(
    staff_client, client, reported, staff_user
):
    image, share, case = reported
    staff_client.post(f"/console/cases/{case.pk}/claim")
    case.refresh_from_db()
    assert case.assignee == staff_user
    staff_client.post(
        f"/console/cases/{case.pk}/resolve",
        {
            "resolution": "upheld",
            "actions": ["remove_image"],
            "reason": "Graphic gore breaks the policy.",
        },
    )
    case.refresh_from_db()
    image.refresh_from_db()
    assert case.state == Case.State.RESOLVED and image.status == Image.Status.REMOVED
    client.logout()
    assert client.get(f"/s/{share.slug}").status_code == 410
    assert AuditLogEntry.objects.filter(action="case.resolve", actor=staff_user).exists()


def test_credit_adjustment_needs_a_reason_and_a_double_submit_counts_once(staff_client, user):
    before = balance_summary(user=user).balance
    staff_client.post(
        f"/console/users/{user.pk}/credits", {"amount": "25", "reason": "", "token": "t1"}
    )
    staff_client.post(
        f"/console/users/{user.pk}/credits", {"amount": "lots", "reason": "x", "token": "t2"}
    )
    assert balance_summary(user=user).balance == before
    for _ in range(2):
        staff_client.post(
            f"/console/users/{user.pk}/credits",
            {"amount": "25", "reason": "Outage refund", "token": "t3"},
        )
    assert balance_summary(user=user).balance == before + 25


def test_users_search(staff_client, user, other_user):
    body = staff_client.get(f"/console/users/?q={user.email}").content.decode()
    assert user.email in body and other_user.email not in body


def test_policy_edit_needs_a_reason_and_makes_a_new_version(staff_client):
    current = PolicyVersion.objects.order_by("-version").first()
    form = {}
    for category, rule in current.rules.items():
        form[f"{category}-action"] = rule["action"]
        form[f"{category}-threshold"] = str(rule["threshold"])
    form["violence-action"] = "review"
    staff_client.post("/console/policy/", {**form, "reason": ""})
    staff_client.post("/console/policy/", {**form, "violence-threshold": "7", "reason": "x"})
    assert PolicyVersion.objects.order_by("-version").first() == current
    staff_client.post("/console/policy/", {**form, "reason": "Send violence to people first."})
    newest = PolicyVersion.objects.order_by("-version").first()
    assert newest.version == current.version + 1 and newest.rules["violence"]["action"] == "review"


def test_figures_add_and_import(staff_client, tmp_path):
    staff_client.post(
        "/console/figures/",
        {"name": "Zanzibar Quux", "aliases": "Z. Quux, ZQ", "category": "actor"},
    )
    figure = PublicFigure.objects.get(name="Zanzibar Quux")
    assert "ZQ" in figure.aliases
    csv_file = tmp_path / "figures.csv"
    csv_file.write_text("name,aliases,category\nOrla Tessaract,,athlete\n")
    with csv_file.open("rb") as handle:
        staff_client.post("/console/figures/", {"file": handle})
    assert PublicFigure.objects.filter(name="Orla Tessaract").exists()
    body = staff_client.get("/console/figures/?q=tessaract").content.decode()
    assert "<td>Orla Tessaract" in body and "<td>Zanzibar" not in body
    bad = tmp_path / "figures.exe"
    bad.write_text("x")
    with bad.open("rb") as handle:
        response = staff_client.post("/console/figures/", {"file": handle}, follow=True)
    assert "use a .csv" in response.content.decode()


def test_audit_log_filters(staff_client, reported):
    _, _, case = reported
    staff_client.post(f"/console/cases/{case.pk}/claim")
    body = staff_client.get("/console/audit/?action=case.claim").content.decode()
    assert "case.claim" in body
    assert (
        "<code>case.claim</code>"
        not in staff_client.get("/console/audit/?action=policy.update").content.decode()
    )


def test_lift_a_suspension_needs_a_reason(staff_client, user, staff_user):
    from moderation.services.enforcement import suspension_for_days

    suspension = suspension_for_days(user=user, days=3, reason="strikes", actor=staff_user)
    staff_client.post(f"/console/users/{user.pk}/suspensions/{suspension.pk}/lift", {"reason": ""})
    suspension.refresh_from_db()
    assert suspension.lifted_at is None
    staff_client.post(
        f"/console/users/{user.pk}/suspensions/{suspension.pk}/lift", {"reason": "Appeal accepted"}
    )
    suspension.refresh_from_db()
    assert suspension.lifted_at is not None


def test_release_puts_a_claimed_case_back(staff_client, reported):
    _, _, case = reported
    staff_client.post(f"/console/cases/{case.pk}/claim")
    staff_client.post(f"/console/cases/{case.pk}/release", {"reason": "not my area"})
    case.refresh_from_db()
    assert case.state == Case.State.OPEN and case.assignee is None


def test_transparency_shows_this_weeks_images_and_flagged_share(staff_client, user):
    from moderation.policy import policy_current
    from moderation.services.decisions import decision_record

    policy = policy_current()
    for outcome in ("allow", "allow", "allow", "review"):
        decision_record(
            stage="output",
            outcome=outcome,
            policy=policy,
            scores={},
            model_versions={},
            user=user,
            categories=["violence"] if outcome == "review" else [],
        )
    body = staff_client.get("/console/transparency/?weeks=4").content.decode()
    assert '<td class="num">4</td><td class="num">25% ' in body
    assert '<td>Violence and gore</td><td class="num">1 ' in body
    assert body.count('<svg class="chart"') == 2
    assert staff_client.get("/console/transparency/?weeks=abc").status_code == 200  # default 12
