"""What the studio tells a newcomer before they are surprised: strikes left before a
suspension, the suspension itself on every page, the tiny local model, and tiles that say
nothing about the content policy until moderation has answered."""

import datetime
import uuid
from typing import cast

import pytest
from django.utils import timezone

from generation.models import Generation, Image
from moderation.models import Decision, Outcome, Suspension
from moderation.policy import policy_current
from moderation.services.decisions import decision_record
from moderation.services.enforcement import suspension_create
from tests.factories import GenerationFactory, ImageFactory

pytestmark = pytest.mark.django_db
BLOCKED_PROMPT = "explicit pornographic nude sex scene"


def _messages(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in response.context["messages"]]


def test_a_blocked_prompt_says_how_many_blocks_are_left_then_that_the_account_is_suspended(
    user_client, user, settings
):
    settings.MODERATION_STRIKES_PER_USER = 3
    first = user_client.post("/create/", {"prompt": BLOCKED_PROMPT, "n": 1, "size": 256})
    assert first.status_code == 400
    (text,) = _messages(first)
    assert "2 more blocked requests within 24 hours will suspend your account" in text
    second = user_client.post("/create/", {"prompt": BLOCKED_PROMPT + " now", "n": 1, "size": 256})
    assert "1 more blocked request within 24 hours" in _messages(second)[0]
    third = user_client.post("/create/", {"prompt": BLOCKED_PROMPT + " again", "n": 1, "size": 256})
    (text,) = _messages(third)
    assert "Your account is suspended from generating images until" in text
    assert "ask for a review at http" in text and "/appeals/" in text
    assert Suspension.objects.filter(user=user, lifted_at__isnull=True).count() == 1
    assert not Generation.objects.filter(user=user).exists()  # nothing created, nothing charged


def test_the_api_block_message_carries_the_same_warning(user, settings):
    from moderation.services.screening import prompt_screen

    verdict = prompt_screen(prompt=BLOCKED_PROMPT, user=user)
    assert verdict.blocked
    error = verdict.as_error()
    assert error.code == "content_policy_violation"
    assert f"{settings.MODERATION_STRIKES_PER_USER - 1} more blocked requests" in error.message


def test_a_suspended_account_sees_a_banner_on_every_page_and_create_says_so_first(
    user_client, user
):
    ends = timezone.now() + datetime.timedelta(hours=24)
    suspension_create(user=user, reason="5 blocked attempts", ends_at=ends, actor=None)
    until = ends.astimezone(datetime.UTC).strftime("%-d %b %Y, %H:%M UTC")
    for path in ("/", "/history/", "/billing/", "/explore/", "/account/", "/developers/"):
        body = user_client.get(path).content.decode()
        assert 'data-testid="suspension-banner"' in body, path
        assert until in body and 'href="/appeals/"' in body, path
    create = user_client.get("/create/").content.decode()
    assert 'data-testid="create-suspended"' in create
    assert 'type="submit" data-cost-button="Generate" disabled>Generate (1 credit)' in create
    # The appeal link works while suspended: the page answers and takes an appeal.
    assert user_client.get("/appeals/").status_code == 200


def test_a_lifted_or_ended_suspension_shows_no_banner(user_client, user, staff_user):
    from moderation.services.enforcement import suspension_lift

    suspension = suspension_create(
        user=user,
        reason="test",
        ends_at=timezone.now() + datetime.timedelta(hours=1),
        actor=None,
    )
    suspension_lift(suspension_id=suspension.pk, actor=staff_user, reason="a mistake")
    assert 'data-testid="suspension-banner"' not in user_client.get("/create/").content.decode()


def test_local_mode_banner_names_the_tiny_model_and_how_to_change_it(client, settings):
    body = client.get("/").content.decode()
    assert 'data-testid="local-model-banner"' in body
    assert "<code>easel/tiny</code>" in body and "EASEL_MODEL=stabilityai/sd-turbo" in body
    settings.EASEL_MODEL = "stabilityai/sd-turbo"
    assert 'data-testid="local-model-banner"' not in client.get("/").content.decode()


def _running_generation(user, n: int = 2) -> Generation:  # type: ignore[no-untyped-def]
    generation = cast(
        Generation,
        GenerationFactory(
            user=user,
            source=Generation.Source.WEB,
            prompt="a lighthouse",
            n=n,
            size=256,
            guidance_scale=0.0,
            seed=1,
            status=Generation.Status.RUNNING,
        ),
    )
    return generation


def _output_decision(*, user, generation: Generation, image: Image, outcome: str) -> Decision:  # type: ignore[no-untyped-def]
    return decision_record(
        stage=Decision.Stage.OUTPUT,
        outcome=outcome,
        policy=policy_current(),
        scores={},
        model_versions={},
        user=user,
        categories=["sexual"] if outcome == Outcome.BLOCK else [],
        generation_id=generation.pk,
        image_id=image.pk,
    )


def test_an_image_being_screened_is_in_progress_not_withheld(user_client, user):
    generation = _running_generation(user)
    # The worker makes the row (status withheld until screened), then asks moderation.
    ImageFactory(
        generation=generation,
        index=0,
        seed=1,
        width=256,
        height=256,
        status=Image.Status.WITHHELD,
        storage_key="",
    )
    body = user_client.get(f"/g/{generation.pk}/progress").content.decode()
    assert "Withheld" not in body and "content policy" not in body
    assert body.count('data-testid="tile-pending"') == 2


def test_a_tile_says_withheld_once_moderation_blocked_it(user_client, user):
    generation = _running_generation(user)
    blocked = ImageFactory(
        generation=generation,
        index=0,
        seed=1,
        width=256,
        height=256,
        status=Image.Status.WITHHELD,
        storage_key="",
    )
    checking = ImageFactory(
        generation=generation,
        index=1,
        seed=2,
        width=256,
        height=256,
        status=Image.Status.WITHHELD,
        storage_key="",
    )
    _output_decision(user=user, generation=generation, image=blocked, outcome=Outcome.BLOCK)
    # Allowed but not yet stored: still on its way, not withheld.
    _output_decision(user=user, generation=generation, image=checking, outcome=Outcome.ALLOW)
    body = user_client.get(f"/g/{generation.pk}/progress").content.decode()
    assert body.count('data-testid="tile-withheld"') == 1
    assert body.count('data-testid="tile-pending"') == 1


def test_a_finished_generation_shows_withheld_and_counts_only_delivered_images(user_client, user):
    generation = _running_generation(user)
    ImageFactory(
        generation=generation,
        index=0,
        seed=1,
        width=256,
        height=256,
        status=Image.Status.WITHHELD,
        storage_key="",
    )
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.SUCCEEDED, withheld_count=1
    )
    body = user_client.get(f"/g/{generation.pk}/").content.decode()
    assert body.count('data-testid="tile-withheld"') == 1
    assert "0 of 2 images delivered" in body
    assert 'data-testid="tile-pending"' not in body


def test_progress_of_someone_elses_generation_is_404(client, other_user, user):
    generation = _running_generation(user)
    client.force_login(other_user)
    assert client.get(f"/g/{generation.pk}/progress").status_code == 404
    assert client.get(f"/g/{uuid.uuid4()}/progress").status_code == 404
