"""Review cases: opening, the queue, claiming (also under concurrency), resolving once."""

import datetime
import uuid

import pytest
from django.core import mail
from django.utils import timezone

from common.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from moderation.models import AuditLogEntry, Case, Decision, Outcome, Report, Suspension
from moderation.selectors import image_shareable
from moderation.selectors.cases import cases_queue
from moderation.services.cases import (
    CaseAction,
    case_claim,
    case_open,
    case_open_for_report,
    case_release,
    case_resolve,
)
from moderation.services.enforcement import generation_permission_check
from moderation.services.reports import report_create
from tests.concurrency import run_concurrently
from tests.factories import UserFactory
from tests.moderation.process_helpers import make_decision, make_image, make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():  # type: ignore[no-untyped-def]
    return make_staff()


@pytest.fixture
def review_case():  # type: ignore[no-untyped-def]
    user = UserFactory()
    decision = make_decision(
        user=user,
        stage=Decision.Stage.OUTPUT,
        outcome=Outcome.REVIEW,
        categories=["sensitive_events"],
        generation_id=uuid.uuid4(),
        image_id=uuid.uuid4(),
    )
    return case_open(source=Case.Source.REVIEW_DECISION, decision=decision)


def test_a_case_takes_what_it_needs_from_its_decision(review_case):
    decision = review_case.decision
    assert review_case.state == Case.State.OPEN
    assert review_case.category == "sensitive_events"
    assert review_case.subject_user == decision.user
    assert review_case.image_id == decision.image_id
    assert review_case.generation_id == decision.generation_id
    assert review_case.priority == 4


def test_opening_twice_for_the_same_decision_gives_the_same_case(review_case):
    again = case_open(source=Case.Source.REVIEW_DECISION, decision=review_case.decision)
    assert again.pk == review_case.pk
    assert Case.objects.count() == 1


def test_a_bad_source_or_category_is_refused_and_creates_nothing():
    with pytest.raises(InvalidRequest):
        case_open(source="gossip")
    with pytest.raises(InvalidRequest) as error:
        case_open(source=Case.Source.REPORT, category="rudeness")
    assert error.value.param == "category"
    assert not Case.objects.exists()


def test_the_queue_orders_by_severity_then_age_and_filters():
    old_mild = case_open(source=Case.Source.REPORT, category="deception", image_id=uuid.uuid4())
    severe = case_open(source=Case.Source.REPORT, category="sexual_minors", image_id=uuid.uuid4())
    newer_mild = case_open(source=Case.Source.APPEAL, category="deception", image_id=uuid.uuid4())
    Case.objects.filter(pk=old_mild.pk).update(
        created_at=timezone.now() - datetime.timedelta(hours=2)
    )
    assert list(cases_queue()) == [severe, old_mild, newer_mild]
    assert list(cases_queue(category="deception")) == [old_mild, newer_mild]
    assert list(cases_queue(source=Case.Source.APPEAL)) == [newer_mild]
    with pytest.raises(InvalidRequest):
        cases_queue(source="nowhere")


def test_claiming_assigns_and_audits(review_case, staff):
    claimed = case_claim(case_id=review_case.pk, actor=staff)
    assert claimed.state == Case.State.CLAIMED and claimed.assignee == staff
    assert case_claim(case_id=review_case.pk, actor=staff).assignee == staff  # again: no change
    assert AuditLogEntry.objects.filter(action="case.claim", actor=staff).count() == 1
    other = make_staff()
    with pytest.raises(Conflict):
        case_claim(case_id=review_case.pk, actor=other)
    with pytest.raises(Conflict):
        case_release(case_id=review_case.pk, actor=other)
    with pytest.raises(NotFound):
        case_claim(case_id=review_case.pk + 1000, actor=other)
    released = case_release(case_id=review_case.pk, actor=staff)
    assert released.state == Case.State.OPEN and released.assignee is None
    assert case_claim(case_id=review_case.pk, actor=other).assignee == other


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_staff_claiming_at_once_one_wins():
    case = case_open(source=Case.Source.REPORT, category="hate", image_id=uuid.uuid4())
    first, second = make_staff(), make_staff()
    results = run_concurrently(
        [
            lambda: case_claim(case_id=case.pk, actor=first),
            lambda: case_claim(case_id=case.pk, actor=second),
        ]
    )
    winners = [result for result in results if isinstance(result, Case)]
    losers = [result for result in results if isinstance(result, Conflict)]
    assert len(winners) == 1 and len(losers) == 1, results
    case.refresh_from_db()
    assert case.assignee == winners[0].assignee
    assert AuditLogEntry.objects.filter(action="case.claim").count() == 1


def test_approving_a_review_clears_the_image_for_sharing(review_case, staff):
    assert not image_shareable(image_id=review_case.image_id)
    case_claim(case_id=review_case.pk, actor=staff)
    resolved = case_resolve(
        case_id=review_case.pk,
        actor=staff,
        resolution=Case.Resolution.OVERTURNED,
        actions=[CaseAction(type="approve")],
        reason="A painting, not documentary.",
    )
    assert resolved.state == Case.State.RESOLVED and resolved.resolved_by == staff
    assert resolved.actions == [{"type": "approve"}]
    review_case.decision.refresh_from_db()
    assert review_case.decision.overturned
    assert image_shareable(image_id=review_case.image_id)
    actions = set(AuditLogEntry.objects.values_list("action", flat=True))
    assert {"case.claim", "case.resolve", "decision.overturn"} <= actions


def test_upholding_with_a_suspension_and_a_warning(
    review_case, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        resolved = case_resolve(
            case_id=review_case.pk,
            actor=staff,
            resolution=Case.Resolution.UPHELD,
            actions=[CaseAction(type="warn"), CaseAction(type="suspend", days=7)],
            reason="Repeated attempts at real-event fakes.",
        )
    assert resolved.assignee == staff  # resolving an unclaimed case takes it
    suspension = Suspension.objects.get()
    assert suspension.user == review_case.subject_user and suspension.created_by == staff
    assert suspension.case == resolved
    assert timezone.now() + datetime.timedelta(days=6) < suspension.ends_at
    with pytest.raises(PermissionDenied):
        generation_permission_check(user=review_case.subject_user)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [review_case.subject_user.email]
    assert "Repeated attempts" not in mail.outbox[0].body  # the staff note stays internal
    assert not image_shareable(image_id=review_case.image_id)  # upheld: still not shareable


def test_a_ban_has_no_end(review_case, staff):
    case_resolve(
        case_id=review_case.pk,
        actor=staff,
        resolution=Case.Resolution.UPHELD,
        actions=[CaseAction(type="ban")],
        reason="Severe.",
    )
    assert Suspension.objects.get().ends_at is None
    with pytest.raises(PermissionDenied) as error:
        generation_permission_check(user=review_case.subject_user)
    assert "banned" in error.value.message
    assert AuditLogEntry.objects.filter(action="user.ban", actor=staff).exists()


@pytest.mark.parametrize(
    ("resolution", "actions", "reason", "param"),
    [
        ("upheld", [CaseAction(type="warn")], "   ", "reason"),
        ("maybe", [], "why", "resolution"),
        ("upheld", [CaseAction(type="approve")], "why", "actions"),
        ("overturned", [CaseAction(type="ban")], "why", "actions"),
        ("upheld", [CaseAction(type="suspend")], "why", "actions"),
        ("upheld", [CaseAction(type="warn", days=3)], "why", "actions"),
        ("upheld", [CaseAction(type="suspend", days=0)], "why", "days"),
        ("upheld", [CaseAction(type="ban"), CaseAction(type="suspend", days=2)], "why", "actions"),
        ("upheld", [CaseAction(type="warn"), CaseAction(type="warn")], "why", "actions"),
    ],
)
def test_bad_resolutions_are_refused_and_change_nothing(
    review_case, staff, resolution, actions, reason, param
):
    with pytest.raises(InvalidRequest) as error:
        case_resolve(
            case_id=review_case.pk,
            actor=staff,
            resolution=resolution,
            actions=actions,
            reason=reason,
        )
    assert error.value.param == param
    review_case.refresh_from_db()
    assert review_case.state == Case.State.OPEN and review_case.resolution == ""
    assert not Suspension.objects.exists()
    assert not AuditLogEntry.objects.exists()


def test_actions_need_something_to_act_on(staff):
    case = case_open(source=Case.Source.REPORT, category="hate", image_id=uuid.uuid4())
    with pytest.raises(InvalidRequest) as error:
        case_resolve(
            case_id=case.pk,
            actor=staff,
            resolution="upheld",
            actions=[CaseAction(type="warn")],
            reason="x",
        )
    assert "no user account" in error.value.message
    case.refresh_from_db()
    assert case.state == Case.State.OPEN


def test_resolving_is_idempotent(review_case, staff):
    arguments = dict(
        case_id=review_case.pk,
        actor=staff,
        resolution=Case.Resolution.UPHELD,
        actions=[CaseAction(type="suspend", days=3)],
        reason="Once.",
    )
    first = case_resolve(**arguments)
    again = case_resolve(**arguments)
    assert again.pk == first.pk and again.resolved_at == first.resolved_at
    assert Suspension.objects.count() == 1
    assert AuditLogEntry.objects.filter(action="case.resolve").count() == 1
    with pytest.raises(Conflict):
        case_resolve(**{**arguments, "resolution": "overturned", "actions": []})
    with pytest.raises(Conflict):
        case_claim(case_id=review_case.pk, actor=staff)


def test_only_the_assignee_resolves_a_claimed_case(review_case, staff):
    case_claim(case_id=review_case.pk, actor=staff)
    with pytest.raises(Conflict):
        case_resolve(
            case_id=review_case.pk,
            actor=make_staff(),
            resolution="upheld",
            actions=[],
            reason="mine",
        )


def test_overturning_a_strikes_case_lifts_its_suspension(settings, staff):
    settings.MODERATION_STRIKES_PER_USER = 2
    from moderation.services.strikes import strike_record

    user = UserFactory()
    for _ in range(2):
        strike_record(user=user, end_user="", decision=make_decision(user=user))
    case = Case.objects.get(source=Case.Source.STRIKES)
    with pytest.raises(PermissionDenied):
        generation_permission_check(user=user)
    case_resolve(
        case_id=case.pk,
        actor=staff,
        resolution="overturned",
        actions=[CaseAction(type="overturn")],
        reason="Art.",
    )
    generation_permission_check(user=user)
    assert Suspension.objects.get().lifted_at is not None
    assert AuditLogEntry.objects.filter(action="suspension.lift", actor=staff).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_resolves_at_once_apply_the_actions_once():
    user = UserFactory()
    decision = make_decision(user=user, categories=["hate"])
    case = case_open(source=Case.Source.REVIEW_DECISION, decision=decision)
    staff = make_staff()

    def resolve() -> Case:
        return case_resolve(
            case_id=case.pk,
            actor=staff,
            resolution="upheld",
            actions=[CaseAction(type="suspend", days=1)],
            reason="Hateful.",
        )

    results = run_concurrently([resolve, resolve, resolve])
    assert all(isinstance(result, Case) for result in results), results
    assert Suspension.objects.count() == 1
    assert AuditLogEntry.objects.filter(action="case.resolve").count() == 1


# --- reports of shared images --------------------------------------------------------------


def test_a_report_of_a_shared_image_opens_a_case_about_its_owner():
    owner = UserFactory()
    image = make_image(user=owner, shared=True)
    case = case_open_for_report(image_id=image.pk, reporter=None, reason="hate", details="A slur.")
    assert case.source == Case.Source.REPORT and case.category == "hate"
    assert case.subject_user == owner and case.generation_id == image.generation_id
    assert Report.objects.get().details == "A slur."
    assert not image_shareable(image_id=image.pk)  # while the case is open


def test_more_reports_gather_in_one_case_and_raise_its_priority():
    image = make_image(user=UserFactory(), shared=True)
    first = report_create(image_id=image.pk, reporter=None, reason="hate")
    second = report_create(image_id=image.pk, reporter=UserFactory(), reason="hate")
    assert first.case == second.case
    second.case.refresh_from_db()
    assert second.case.priority == first.case.priority + 1


def test_the_same_person_reporting_twice_counts_once():
    image = make_image(user=UserFactory(), shared=True)
    reporter = UserFactory()
    first = report_create(image_id=image.pk, reporter=reporter, reason="harassment")
    again = report_create(image_id=image.pk, reporter=reporter, reason="harassment")
    assert first.pk == again.pk and Report.objects.count() == 1
    first.case.refresh_from_db()
    assert first.case.priority == 5


@pytest.mark.parametrize("what", ["private", "unknown", "bad reason", "long details"])
def test_bad_reports_are_refused_and_change_nothing(what):
    image = make_image(user=UserFactory(), shared=what != "private")
    image_id = uuid.uuid4() if what == "unknown" else image.pk
    reason = "ugly" if what == "bad reason" else "hate"
    details = "x" * 2001 if what == "long details" else ""
    with pytest.raises((InvalidRequest, NotFound)):
        report_create(image_id=image_id, reporter=None, reason=reason, details=details)
    assert not Report.objects.exists() and not Case.objects.exists()


# --- image actions, through generation's services ------------------------------------------


def test_removing_a_reported_image_then_restoring_it_on_appeal(staff):
    from generation.models import Image, Share
    from generation.services.storage import storage_read

    owner = UserFactory()
    image = make_image(user=owner, shared=True)
    key = image.storage_key
    case = case_open_for_report(image_id=image.pk, reporter=None, reason="hate")
    case_resolve(
        case_id=case.pk,
        actor=staff,
        resolution="upheld",
        actions=[CaseAction(type="remove_image")],
        reason="Hate symbol.",
    )
    image.refresh_from_db()
    assert image.status == Image.Status.REMOVED and image.storage_key == ""
    assert not Share.objects.get(image=image).is_active  # the share page answers 410
    assert AuditLogEntry.objects.filter(action="image.remove", target_id=str(image.pk)).exists()

    from moderation.services.appeals import appeal_create

    appeal = appeal_create(user=owner, image_id=image.pk, text="It is a historical flag.")
    case_resolve(
        case_id=appeal.case.pk,
        actor=staff,
        resolution="overturned",
        actions=[CaseAction(type="restore_image"), CaseAction(type="overturn")],
        reason="Historical context.",
    )
    image.refresh_from_db()
    assert image.status == Image.Status.DELIVERED and image.storage_key == key
    assert storage_read(key=key) == b"\x89PNG test image"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_case_opened_at_once_is_queued_once():
    """A retried task and the original both open the case for one decision, and three visitors
    report one image at the same moment: one case each."""
    decision = make_decision(user=UserFactory())
    image = make_image(user=UserFactory(), shared=True)
    results = run_concurrently(
        [lambda: case_open(source=Case.Source.WITHHELD_OUTPUT, decision=decision) for _ in range(3)]
        + [
            lambda: report_create(image_id=image.pk, reporter=None, reason="violence")
            for _ in range(3)
        ]
    )
    assert not [result for result in results if isinstance(result, Exception)], results
    assert Case.objects.filter(source=Case.Source.WITHHELD_OUTPUT).count() == 1
    report_case = Case.objects.get(source=Case.Source.REPORT)
    assert report_case.reports.count() == 3
    assert report_case.priority == 6 + 2  # violence, raised by the second and third reports
