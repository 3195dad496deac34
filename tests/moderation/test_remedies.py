"""What an overturned decision puts right: the images it took, exactly what they cost, and the
suspension it caused; and the e-mail that says so."""

import io

import pytest
from django.core import mail
from PIL import Image as PILImage

from billing.models import LedgerEntry, Reservation
from billing.selectors import image_price, wallet_for_user
from billing.services.credits import credits_adjust, credits_capture, credits_reserve
from generation.models import Generation, Image, QuarantinedImage
from generation.provenance.credentials import credentials_read
from generation.provenance.watermark import id_prefix, watermark_read
from generation.services.quarantine import quarantine_store
from generation.services.sharing import share_enable
from generation.services.storage import image_key, storage, storage_read, storage_write
from moderation.models import Case, Decision, Suspension
from moderation.selectors import suspension_active
from moderation.services.appeals import appeal_create
from moderation.services.cases import CaseAction, case_open_for_report, case_resolve
from moderation.services.enforcement import suspension_for_days
from moderation.services.strikes import strike_record
from tests.factories import GenerationFactory, ImageFactory, UserFactory
from tests.moderation.process_helpers import make_decision, make_staff

# Real commits: the e-mails and the quarantine's file deletion happen after commit, as in
# production.
pytestmark = pytest.mark.django_db(transaction=True)


def _resolve(case: Case, staff, resolution: str, *actions: str) -> Case:  # type: ignore[no-untyped-def]
    return case_resolve(
        case_id=case.pk,
        actor=staff,
        resolution=resolution,
        actions=[CaseAction(type=name) for name in actions],
        reason="Looked again.",
    )


def _generation_of_four(user, *, size: int, delivered: int) -> list[Image]:  # type: ignore[no-untyped-def]
    """Four images of one job: the first `delivered` stored and charged, the rest withheld in the
    quarantine (as the worker leaves them), the reservation settled as the worker settles it."""
    credits_adjust(user=user, amount=50, actor=make_staff(), reason="test grant")
    generation = GenerationFactory.create(
        user=user, n=4, size=size, status=Generation.Status.SUCCEEDED, withheld_count=4 - delivered
    )
    price = image_price(pixels=size * size)
    credits_reserve(user=user, generation_id=generation.pk, amount=4 * price, size=size)
    credits_capture(generation_id=generation.pk, amount=delivered * price)
    Generation.objects.filter(pk=generation.pk).update(credits_captured=delivered * price)
    images = []
    for index in range(4):
        picture = PILImage.new("RGB", (size, size), (30 * index, 90, 160))
        image = ImageFactory.create(
            generation=generation, index=index, seed=1 + index, width=size, height=size,
            status=Image.Status.DELIVERED if index < delivered else Image.Status.WITHHELD,
            storage_key="",
        )  # fmt: skip
        if index < delivered:
            buffer = io.BytesIO()
            picture.save(buffer, format="PNG")
            key = image_key(generation_id=generation.pk, index=index)
            image.storage_key = storage_write(key=key, content=buffer.getvalue())
            image.save(update_fields=["storage_key"])
        else:
            quarantine_store(image=image, picture=picture)
        images.append(image)
    return images


def test_overturning_one_removed_image_of_four_refunds_exactly_that_image():
    user = UserFactory.create()
    images = _generation_of_four(user, size=1024, delivered=4)
    price = image_price(pixels=1024 * 1024)
    staff = make_staff()
    share_enable(user=user, image_id=images[2].pk)
    report = case_open_for_report(image_id=images[2].pk, reporter=None, reason="violence")
    _resolve(report, staff, "upheld", "remove_image")
    images[2].refresh_from_db()
    assert images[2].status == Image.Status.REMOVED
    before = wallet_for_user(user=user).balance

    appeal = appeal_create(user=user, image_id=images[2].pk, text="It is a painting.")
    _resolve(appeal.case, staff, "overturned", "overturn", "restore_image")

    assert wallet_for_user(user=user).balance == before + price  # one image, not four
    reservation = Reservation.objects.get(generation_id=images[0].generation_id)
    assert reservation.captured == 4 * price and reservation.refunded == price
    refunds = LedgerEntry.objects.filter(kind="refund", generation_id=reservation.generation_id)
    assert [entry.amount for entry in refunds] == [price]
    images[2].refresh_from_db()
    assert images[2].status == Image.Status.DELIVERED and storage().exists(images[2].storage_key)
    assert (
        Image.objects.filter(generation_id=reservation.generation_id, status="delivered").count()
        == 4
    )
    # A retried resolution, or a second case about the same image, refunds nothing more.
    _resolve(appeal.case, staff, "overturned", "overturn", "restore_image")
    assert wallet_for_user(user=user).balance == before + price
    assert f"{price} credits it cost have been returned" in mail.outbox[-1].body


def test_overturning_one_withheld_image_of_four_releases_it_free_and_refunds_nothing():
    """The case of the issue: the three delivered images were charged and stay charged; the
    withheld one was never charged, and comes back free, marked like any delivered image."""
    user = UserFactory.create()
    images = _generation_of_four(user, size=256, delivered=3)
    withheld = images[3]
    generation_id = withheld.generation_id
    output_block = make_decision(
        user=user,
        stage=Decision.Stage.OUTPUT,
        categories=["sexual"],
        generation_id=generation_id,
        image_id=withheld.pk,
    )
    held_key = QuarantinedImage.objects.get(image=withheld).storage_key
    before = wallet_for_user(user=user).balance

    appeal = appeal_create(user=user, image_id=withheld.pk, text="A classical statue.")
    assert appeal.decision == output_block
    _resolve(appeal.case, make_staff(), "overturned", "overturn")

    assert wallet_for_user(user=user).balance == before
    reservation = Reservation.objects.get(generation_id=generation_id)
    assert reservation.captured == 3 * image_price(pixels=256 * 256) and reservation.refunded == 0
    assert not LedgerEntry.objects.filter(kind="refund").exists()
    withheld.refresh_from_db()
    assert withheld.status == Image.Status.DELIVERED
    assert withheld.storage_key == image_key(generation_id=generation_id, index=3)
    released = PILImage.open(io.BytesIO(storage_read(key=withheld.storage_key)))
    assert watermark_read(released).id_prefix == id_prefix(withheld.pk)  # the invisible watermark
    credentials = credentials_read(storage_read(key=withheld.storage_key), "image/png")
    assert credentials is not None and credentials.by_easel  # and content credentials
    assert released.text["easel:seed"] == str(withheld.seed)  # the provenance metadata
    assert not storage().exists(held_key)
    assert QuarantinedImage.objects.get(image=withheld).released_at is not None
    generation = Generation.objects.get(pk=generation_id)
    assert generation.withheld_count == 0 and generation.credits_captured == 3
    assert "now in your history, free of charge" in mail.outbox[-1].body
    assert "credits it cost" not in mail.outbox[-1].body


def test_releasing_the_only_withheld_images_turns_a_blocked_job_into_a_delivered_one():
    user = UserFactory.create()
    images = _generation_of_four(user, size=256, delivered=0)
    Generation.objects.filter(pk=images[0].generation_id).update(status=Generation.Status.BLOCKED)
    case = Case.objects.create(
        source=Case.Source.WITHHELD_OUTPUT,
        subject_user=user,
        image_id=images[0].pk,
        generation_id=images[0].generation_id,
    )
    _resolve(case, make_staff(), "overturned", "approve")
    generation = Generation.objects.get(pk=images[0].generation_id)
    assert generation.status == Generation.Status.SUCCEEDED and generation.withheld_count == 3
    assert generation.credits_captured == 0
    assert Reservation.objects.get(generation_id=generation.pk).captured == 0


def _suspended_by_strikes(user, settings, *, end_user: str = "") -> list[Decision]:  # type: ignore[no-untyped-def]
    settings.MODERATION_STRIKES_PER_USER = 3
    settings.MODERATION_STRIKES_PER_END_USER = 3
    decisions = [make_decision(user=user, end_user=end_user) for _ in range(3)]
    for decision in decisions:
        strike_record(user=user, end_user=end_user, decision=decision)
    assert suspension_active(user=user, end_user=end_user) is not None
    return decisions


def test_overturning_a_strike_behind_a_suspension_lifts_it_at_once_and_says_so(settings):
    user = UserFactory.create()
    decisions = _suspended_by_strikes(user, settings)
    suspension = Suspension.objects.get(user=user)
    appeal = appeal_create(user=user, decision_id=decisions[1].pk, text="A war film.")
    mail.outbox.clear()
    _resolve(appeal.case, make_staff(), "overturned", "overturn")
    suspension.refresh_from_db()
    assert suspension.lifted_at is not None
    assert suspension_active(user=user) is None
    assert len(mail.outbox) == 1  # one e-mail: the appeal's, which tells all of it
    body = mail.outbox[0].body
    assert "overturned the decision" in body
    assert "The suspension of your account was lifted now: you can generate images again." in body


def test_a_suspension_the_remaining_strikes_still_justify_stays(settings):
    user = UserFactory.create()
    settings.MODERATION_STRIKES_PER_USER = 3
    decisions = [make_decision(user=user) for _ in range(4)]
    for decision in decisions[:3]:
        strike_record(user=user, decision=decision)
    # A fourth strike after the suspension: it counts towards the next one, not this one.
    strike_record(user=user, decision=decisions[3])
    appeal = appeal_create(user=user, decision_id=decisions[3].pk, text="Please.")
    _resolve(appeal.case, make_staff(), "overturned", "overturn")
    assert suspension_active(user=user) is not None


def test_a_suspension_a_person_decided_is_not_lifted_by_an_overturned_strike(settings):
    user = UserFactory.create()
    decisions = _suspended_by_strikes(user, settings)
    Suspension.objects.filter(user=user).update(lifted_at=None)
    staff = make_staff()
    by_hand = suspension_for_days(user=user, days=7, reason="Repeated abuse.", actor=staff)
    appeal = appeal_create(user=user, decision_id=decisions[0].pk, text="Please.")
    _resolve(appeal.case, staff, "overturned", "overturn")
    by_hand.refresh_from_db()
    assert by_hand.lifted_at is None
    assert suspension_active(user=user) == by_hand


def test_an_end_users_suspension_is_lifted_and_the_email_names_the_end_user(settings):
    user = UserFactory.create()
    decisions = _suspended_by_strikes(user, settings, end_user="player-42")
    appeal = appeal_create(user=user, decision_id=decisions[2].pk, text="A chess set.")
    mail.outbox.clear()
    _resolve(appeal.case, make_staff(), "overturned", "overturn")
    assert suspension_active(user=user, end_user="player-42") is None
    assert "end user 'player-42' was lifted now" in mail.outbox[0].body


def test_overturning_a_strikes_case_lifts_its_suspension_and_emails_the_person(settings):
    user = UserFactory.create()
    _suspended_by_strikes(user, settings)
    case = Case.objects.get(source=Case.Source.STRIKES, subject_user=user)
    mail.outbox.clear()
    _resolve(case, make_staff(), "overturned", "overturn")
    assert suspension_active(user=user) is None
    assert [message.subject for message in mail.outbox] == ["Your Easel suspension has been lifted"]
    assert "you can generate images again" in mail.outbox[0].body
    # No second e-mail for a retried resolution.
    _resolve(case, make_staff(), "overturned", "overturn")
    assert len(mail.outbox) == 1


def test_an_upheld_appeal_lifts_nothing_and_refunds_nothing(settings):
    user = UserFactory.create()
    decisions = _suspended_by_strikes(user, settings)
    before = wallet_for_user(user=user).balance
    appeal = appeal_create(user=user, decision_id=decisions[0].pk, text="Please.")
    _resolve(appeal.case, make_staff(), "upheld")
    assert suspension_active(user=user) is not None
    assert wallet_for_user(user=user).balance == before
    assert "the decision stands" in mail.outbox[-1].body
