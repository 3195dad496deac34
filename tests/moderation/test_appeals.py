"""Appeals: a block or a removal, looked at again; an overturn is a false positive and refunds."""

import uuid

import pytest

from billing.selectors import image_price, wallet_for_user
from billing.services.credits import credits_adjust, credits_capture, credits_reserve
from common.errors import Conflict, InvalidRequest, NotFound
from moderation.models import Appeal, AuditLogEntry, Case, Decision, Outcome
from moderation.services.appeals import appeal_create
from moderation.services.cases import CaseAction, case_resolve
from moderation.services.strikes import strike_record, strikes_in_window
from tests.concurrency import run_concurrently
from tests.factories import UserFactory
from tests.moderation.process_helpers import make_decision, make_image, make_staff

pytestmark = pytest.mark.django_db


def _overturn(case: Case, staff, actions=("overturn",)) -> Case:  # type: ignore[no-untyped-def]
    return case_resolve(
        case_id=case.pk,
        actor=staff,
        resolution=Case.Resolution.OVERTURNED,
        actions=[CaseAction(type=name) for name in actions],
        reason="A false positive.",
    )


def test_appealing_a_block_opens_a_case():
    user = UserFactory()
    decision = make_decision(user=user, categories=["violence"])
    appeal = appeal_create(user=user, decision_id=decision.pk, text="  It is a boxing match.  ")
    assert appeal.text == "It is a boxing match."
    case = appeal.case
    assert case.source == Case.Source.APPEAL and case.state == Case.State.OPEN
    assert case.decision == decision and case.subject_user == user and case.category == "violence"
    assert "boxing match" in case.summary


def test_an_overturned_block_is_a_false_positive_and_stops_counting_as_a_strike():
    user = UserFactory()
    decision = make_decision(user=user)
    strike_record(user=user, end_user="", decision=decision)
    assert strikes_in_window(user=user).count() == 1
    appeal = appeal_create(user=user, decision_id=decision.pk, text="A historical reenactment.")
    _overturn(appeal.case, make_staff())
    decision.refresh_from_db()
    assert decision.overturned
    assert strikes_in_window(user=user).count() == 0
    assert AuditLogEntry.objects.filter(
        action="decision.overturn", target_id=str(decision.pk)
    ).exists()


def test_an_upheld_appeal_changes_nothing_for_the_decision():
    user = UserFactory()
    decision = make_decision(user=user)
    appeal = appeal_create(user=user, decision_id=decision.pk, text="Please.")
    case_resolve(
        case_id=appeal.case.pk, actor=make_staff(), resolution="upheld", actions=[], reason="Gore."
    )
    decision.refresh_from_db()
    assert not decision.overturned


def _charged_generation(user, credits: int = 20) -> uuid.UUID:  # type: ignore[no-untyped-def]
    credits_adjust(user=user, amount=100, actor=make_staff(), reason="test grant")
    generation_id = uuid.uuid4()
    credits_reserve(user=user, generation_id=generation_id, amount=credits)
    credits_capture(generation_id=generation_id, amount=credits)
    return generation_id


def test_overturning_a_removed_image_refunds_what_it_cost():
    user = UserFactory()
    generation_id = _charged_generation(user)
    image = make_image(user=user, status="removed", generation_id=generation_id)
    charged = wallet_for_user(user=user).balance
    appeal = appeal_create(user=user, image_id=image.pk, text="It was a cartoon.")
    assert appeal.case.generation_id == generation_id
    staff = make_staff()
    _overturn(appeal.case, staff)
    # The image's price, not the generation's whole charge (tests/moderation/test_remedies.py).
    price = image_price(pixels=image.generation.pixels)
    assert wallet_for_user(user=user).balance == charged + price
    # Resolving again (a retried request) refunds nothing more.
    _overturn(appeal.case, staff)
    assert wallet_for_user(user=user).balance == charged + price


def test_overturning_a_prompt_block_refunds_nothing_because_nothing_was_charged():
    user = UserFactory()
    generation_id = _charged_generation(user)
    charged = wallet_for_user(user=user).balance
    decision = make_decision(user=user, generation_id=generation_id)  # a prompt-stage block
    appeal = appeal_create(user=user, decision_id=decision.pk, text="Fine art.")
    _overturn(appeal.case, make_staff())
    assert wallet_for_user(user=user).balance == charged


def test_a_withheld_image_appeal_carries_its_output_decision():
    user = UserFactory()
    image = make_image(user=user, status="withheld")
    decision = make_decision(
        user=user,
        stage=Decision.Stage.OUTPUT,
        categories=["sexual"],
        generation_id=image.generation_id,
        image_id=image.pk,
    )
    appeal = appeal_create(user=user, image_id=image.pk, text="A classical statue.")
    assert appeal.decision == decision and appeal.case.category == "sexual"
    _overturn(appeal.case, make_staff())
    decision.refresh_from_db()
    assert decision.overturned


@pytest.mark.parametrize(
    ("arguments", "error", "param"),
    [
        ({"text": "", "decision_id": "mine"}, InvalidRequest, "text"),
        ({"text": "x" * 1001, "decision_id": "mine"}, InvalidRequest, "text"),
        ({"text": "why"}, InvalidRequest, "decision_id"),
        (
            {"text": "why", "decision_id": "mine", "image_id": "delivered"},
            InvalidRequest,
            "decision_id",
        ),
        ({"text": "why", "decision_id": "someone else's"}, NotFound, "decision_id"),
        ({"text": "why", "decision_id": "a review"}, InvalidRequest, "decision_id"),
        ({"text": "why", "image_id": "delivered"}, InvalidRequest, "image_id"),
        ({"text": "why", "image_id": "unknown"}, NotFound, "image_id"),
    ],
)
def test_bad_appeals_are_refused_and_change_nothing(arguments, error, param):
    user = UserFactory()
    things = {
        "mine": make_decision(user=user).pk,
        "someone else's": make_decision(user=UserFactory()).pk,
        "a review": make_decision(user=user, outcome=Outcome.REVIEW).pk,
        "delivered": make_image(user=user).pk,
        "unknown": uuid.uuid4(),
    }
    resolved = {key: things[value] if key != "text" else value for key, value in arguments.items()}
    with pytest.raises(error) as raised:
        appeal_create(user=user, **resolved)
    assert raised.value.param == param
    assert not Appeal.objects.exists() and not Case.objects.exists()


def test_one_appeal_per_block():
    user = UserFactory()
    decision = make_decision(user=user)
    appeal_create(user=user, decision_id=decision.pk, text="first")
    with pytest.raises(Conflict):
        appeal_create(user=user, decision_id=decision.pk, text="second")
    assert Appeal.objects.count() == 1 and Case.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_appeal_sent_twice_at_once_is_recorded_once():
    user = UserFactory()
    image = make_image(user=user, status="removed")
    results = run_concurrently(
        [lambda: appeal_create(user=user, image_id=image.pk, text="again") for _ in range(3)]
    )
    assert sum(isinstance(result, Appeal) for result in results) == 1, results
    assert sum(isinstance(result, Conflict) for result in results) == 2
    assert Appeal.objects.count() == 1 and Case.objects.count() == 1


def test_the_user_hears_the_outcome_once(django_capture_on_commit_callbacks):
    from django.core import mail

    user = UserFactory()
    appeal = appeal_create(user=user, decision_id=make_decision(user=user).pk, text="Please.")
    staff = make_staff()
    with django_capture_on_commit_callbacks(execute=True):
        _overturn(appeal.case, staff)
    with django_capture_on_commit_callbacks(execute=True):
        _overturn(appeal.case, staff)  # a retried resolve: no second e-mail
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]
    assert "overturned" in mail.outbox[0].body and "A false positive" not in mail.outbox[0].body
