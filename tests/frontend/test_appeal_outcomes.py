"""The appeals page says what a review decided and, after an overturn, what was put right: the
suspension lifted, the image given back, the credits refunded (the e-mail says the same:
tests/moderation/test_remedies.py)."""

import pytest
from django.test import Client

from billing.selectors import image_price
from generation.services.sharing import share_enable
from moderation.services.appeals import appeal_create
from moderation.services.cases import case_open_for_report
from tests.factories import UserFactory
from tests.moderation.process_helpers import make_decision, make_staff
from tests.moderation.test_remedies import _generation_of_four, _resolve, _suspended_by_strikes

# Real commits, as the remedies run after the resolution commits.
pytestmark = pytest.mark.django_db(transaction=True)


def _appeals_page(user) -> str:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client.get("/appeals/").content.decode()


def test_an_overturned_strike_says_the_suspension_was_lifted_and_the_banner_goes(settings):
    user = UserFactory.create()
    decisions = _suspended_by_strikes(user, settings)
    appeal = appeal_create(user=user, decision_id=decisions[1].pk, text="A war film.")
    page = _appeals_page(user)
    assert 'data-testid="appeal-waiting"' in page and 'data-testid="suspension-banner"' in page
    _resolve(appeal.case, make_staff(), "overturned", "overturn")
    page = _appeals_page(user)
    assert 'data-testid="appeal-overturned"' in page
    assert "The suspension was lifted" in page and 'data-testid="suspension-banner"' not in page
    assert "credits it cost" not in page


def test_an_overturned_removal_says_the_image_is_back_and_the_credits_returned():
    user = UserFactory.create()
    images = _generation_of_four(user, size=1024, delivered=4)
    share_enable(user=user, image_id=images[2].pk)
    report = case_open_for_report(image_id=images[2].pk, reporter=None, reason="violence")
    staff = make_staff()
    _resolve(report, staff, "upheld", "remove_image")
    appeal = appeal_create(user=user, image_id=images[2].pk, text="It is a painting.")
    _resolve(appeal.case, staff, "overturned", "overturn", "restore_image")
    page = _appeals_page(user)
    price = image_price(pixels=1024 * 1024)
    assert f"{price} credits it cost were returned" in page
    assert f'href="/i/{images[2].pk}/"' in page and "The suspension was lifted" not in page


def test_an_upheld_appeal_says_the_decision_stands(settings):
    user = UserFactory.create()
    decision = make_decision(user=user)
    appeal = appeal_create(user=user, decision_id=decision.pk, text="Please.")
    _resolve(appeal.case, make_staff(), "upheld")
    page = _appeals_page(user)
    assert 'data-testid="appeal-upheld"' in page and "Overturned" not in page
