"""Every button that spends says what it costs, by billing's one price rule, and the forms offer
only what the plan allows."""

import re

import pytest

from billing.selectors import generation_cost
from generation.models import Generation
from tests.factories import GenerationFactory
from tests.frontend.conftest import stored_image

pytestmark = pytest.mark.django_db


def _button(body: str, label: str) -> str:
    match = re.search(rf'<button[^>]*data-cost-button="{label}"[^>]*>([^<]*)</button>', body)
    assert match, f"no {label} button"
    return match.group(1)


def test_create_button_carries_the_cost_of_the_first_choice_and_of_a_resubmitted_one(
    user_client,
):
    body = user_client.get("/create/").content.decode()
    assert (
        _button(body, "Generate") == f"Generate ({generation_cost(pixels=256 * 256, n=1)} credit)"
    )
    body = user_client.post("/create/", {"prompt": "", "n": 3, "size": "512x512"}).content.decode()
    assert _button(body, "Generate") == "Generate (3 credits)"
    assert "data-cost>3</span> <span data-cost-unit>credits" in body


def test_create_with_an_n_it_cannot_price_shows_the_plain_button(user_client):
    body = user_client.post(
        "/create/", {"prompt": "", "n": "lots", "size": "256x256"}
    ).content.decode()
    assert _button(body, "Generate") == "Generate"


def test_variations_offer_the_plans_counts_and_say_the_price(user_client, user, pro_user, client):
    free_image = stored_image(user=user, side=512)
    body = user_client.get(f"/i/{free_image.pk}/").content.decode()
    counts = re.findall(
        r'<option value="(\d+)"', body.split('id="variation-n"')[1].split("</select>")[0]
    )
    assert counts == [str(n) for n in range(1, user.tier.max_n + 1)]
    assert 'value="4" selected' in body and 'data-size="512x512"' in body
    assert _button(body, "Make variations") == "Make variations (4 credits)"
    client.force_login(pro_user)
    big = stored_image(user=pro_user, side=1024)
    body = client.get(f"/i/{big.pk}/").content.decode()
    assert (
        _button(body, "Make variations")
        == f"Make variations ({generation_cost(pixels=1024 * 1024, n=4)} credits)"
    )
    assert body.count("<option value=") >= pro_user.tier.max_n


def test_edit_offers_no_more_images_than_the_plan_and_prices_the_repaint(user_client, user):
    picture = stored_image(user=user)
    body = user_client.get(f"/i/{picture.pk}/edit").content.decode()
    n_input = re.search(r'<input type="number" name="n"[^>]*>', body).group(0)
    assert f'max="{user.tier.max_n}"' in n_input and 'max="10"' not in n_input
    assert _button(body, "Repaint") == "Repaint (1 credit)"
    assert 'data-cost-form data-size="256x256"' in body


def test_a_button_over_the_balance_says_so(client, settings):
    from tests.factories import UserFactory

    settings.BILLING_SIGNUP_GRANT = 0
    client.force_login(UserFactory.create())
    body = client.get("/create/").content.decode()
    assert _button(body, "Generate") == "Not enough credits"


def test_a_finished_prompt_can_be_run_again_for_its_price_but_not_a_blocked_one(user_client, user):
    done = GenerationFactory.create(
        user=user, prompt="a red kite", n=2, size=512, status=Generation.Status.SUCCEEDED
    )
    body = user_client.get(f"/g/{done.pk}/").content.decode()
    assert _button(body, "Run again") == "Run again (2 credits)"
    assert 'name="prompt" value="a red kite"' in body
    blocked = GenerationFactory.create(user=user, prompt="x", status=Generation.Status.BLOCKED)
    assert (
        'data-cost-button="Run again"' not in user_client.get(f"/g/{blocked.pk}/").content.decode()
    )
    running = GenerationFactory.create(user=user, prompt="y", status=Generation.Status.RUNNING)
    assert (
        'data-cost-button="Run again"' not in user_client.get(f"/g/{running.pk}/").content.decode()
    )


def test_an_image_larger_than_the_plan_makes_offers_no_variation_or_repaint(user_client, user):
    big = stored_image(user=user, side=1024)  # made before a downgrade: Free stops at 512
    assert 1024 not in user.tier.allowed_sizes
    for path in (f"/i/{big.pk}/", f"/i/{big.pk}/edit"):
        body = user_client.get(path).content.decode()
        assert 'data-testid="size-refused"' in body, path
        assert re.search(r'data-cost-button="(Make variations|Repaint)" disabled', body), path
    small = stored_image(user=user, side=512)
    assert 'data-testid="size-refused"' not in user_client.get(f"/i/{small.pk}/").content.decode()
