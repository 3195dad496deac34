"""The audit log: every staff action writes one entry; entries are never changed or removed."""

import pytest
from django.db import DatabaseError, transaction

from moderation.models import AuditLogEntry, Case
from moderation.services.audit import audit_record
from moderation.services.cases import CaseAction, case_claim, case_open, case_release, case_resolve
from moderation.services.enforcement import suspension_for_days, suspension_lift, user_warn
from tests.factories import UserFactory
from tests.moderation.process_helpers import make_decision, make_staff

pytestmark = pytest.mark.django_db


def test_each_staff_action_writes_one_entry_naming_actor_target_and_reason():
    staff, user = make_staff(), UserFactory()
    case = case_open(source=Case.Source.REVIEW_DECISION, decision=make_decision(user=user))
    case_claim(case_id=case.pk, actor=staff)
    case_release(case_id=case.pk, actor=staff, reason="Not my area.")
    case_resolve(
        case_id=case.pk,
        actor=staff,
        resolution="upheld",
        actions=[CaseAction(type="ban")],
        reason="Severe.",
    )
    suspension = user.suspensions.get()
    suspension_lift(suspension_id=suspension.pk, actor=staff, reason="Appeal accepted.")
    user_warn(user=user, actor=staff, reason="Careful.")
    entries = list(AuditLogEntry.objects.order_by("created_at", "pk"))
    assert [(e.action, e.target_type, e.reason) for e in entries] == [
        ("case.claim", "case", ""),
        ("case.release", "case", "Not my area."),
        ("case.resolve", "case", "Severe."),
        ("user.ban", "user", "Severe."),
        ("suspension.lift", "user", "Appeal accepted."),
        ("user.warn", "user", "Careful."),
    ]
    assert {e.actor for e in entries} == {staff}
    assert entries[2].details == {"resolution": "upheld", "actions": [{"type": "ban"}]}
    assert entries[3].target_id == str(user.pk) and entries[3].details["case_id"] == case.pk


def test_an_action_that_fails_leaves_no_entry():
    staff = make_staff()
    with pytest.raises(RuntimeError), transaction.atomic():
        suspension_for_days(user=UserFactory(), days=2, reason="r", actor=staff)
        raise RuntimeError("the request failed after the suspension")
    assert not AuditLogEntry.objects.exists()


@pytest.mark.postgres
def test_the_database_refuses_to_change_or_delete_an_entry():
    entry = audit_record(actor=make_staff(), action="user.warn", target_type="user", target_id=1)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditLogEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditLogEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditLogEntry.objects.filter(pk=entry.pk).update(actor=UserFactory())
    entry.refresh_from_db()
    assert entry.reason == "" and entry.actor is not None


@pytest.mark.postgres
def test_only_the_actor_may_become_null_as_when_that_user_row_is_deleted():
    entry = audit_record(actor=make_staff(), action="user.warn", target_type="user", target_id=1)
    AuditLogEntry.objects.filter(pk=entry.pk).update(actor=None)  # the foreign key's SET NULL
    entry.refresh_from_db()
    assert entry.actor is None and entry.action == "user.warn"


def test_the_admin_shows_the_log_but_cannot_change_it(client):
    superuser = make_staff(is_superuser=True)
    entry = audit_record(actor=superuser, action="user.warn", target_type="user", target_id=1)
    client.force_login(superuser)
    listing = client.get("/admin/moderation/auditlogentry/")
    assert listing.status_code == 200 and b"user.warn" in listing.content
    assert client.get("/admin/moderation/auditlogentry/add/").status_code == 403
    assert (
        client.post(
            f"/admin/moderation/auditlogentry/{entry.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert AuditLogEntry.objects.filter(pk=entry.pk).exists()
    for model in ["case", "decision", "suspension", "strike", "appeal", "report", "publicfigure"]:
        assert client.get(f"/admin/moderation/{model}/").status_code == 200, model
