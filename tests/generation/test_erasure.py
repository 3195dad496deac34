"""Account deletion removes the person's images, prompts, shares, collections and webhooks."""

import uuid

import pytest

from accounts.services.users import user_delete
from generation.models import Collection, Generation, Image, Share, WebhookEndpoint
from generation.services.quarantine import quarantine_store
from generation.services.storage import image_key, storage, storage_write
from moderation.models import Appeal, Category, Report
from tests.factories import GenerationFactory, ImageFactory, UserFactory

PNG = b"\x89PNG\r\n\x1a\n-not-a-real-image-but-a-stored-file"


def _stored_image(generation: Generation, index: int) -> Image:
    key = storage_write(key=image_key(generation_id=generation.pk, index=index), content=PNG)
    return ImageFactory.create(generation=generation, index=index, storage_key=key)


@pytest.mark.django_db(transaction=True)
def test_deleting_an_account_removes_images_prompts_and_what_hangs_off_them():
    user, other = UserFactory.create(), UserFactory.create()
    done = GenerationFactory.create(user=user, status="succeeded", prompt="my secret prompt")
    images = [_stored_image(done, 0), _stored_image(done, 1)]
    held = quarantine_store(image=images[1], picture=PNG, reason="removed").storage_key
    Share.objects.create(image=images[0], slug="erase-me")
    Collection.objects.create(user=user, name="mine", slug="mine-1")
    WebhookEndpoint.objects.create(user=user, url="https://example.com/hook", secret="s" * 32)
    queued = GenerationFactory.create(user=user, status="queued")
    running = GenerationFactory.create(user=user, status="running")
    kept = _stored_image(GenerationFactory.create(user=other, status="succeeded"), 0)
    Appeal.objects.create(user=user, text="please look again", image_id=uuid.uuid4())
    Report.objects.create(image_id=kept.pk, reporter=user, reason=Category.HATE, details="why")

    user_delete(user=user)

    for image in images:
        image.refresh_from_db()
        assert image.storage_key == "" and image.deleted_at is not None
    assert not any(
        storage().exists(key)
        for key in (*[image_key(generation_id=done.pk, index=i) for i in (0, 1)], held)
    )
    assert storage().exists(kept.storage_key)  # another person's image is untouched
    assert not Share.objects.filter(slug="erase-me").exists()
    assert not Collection.objects.filter(user=user).exists()
    assert not WebhookEndpoint.objects.filter(user=user).exists()
    assert set(Generation.objects.filter(user=user).values_list("prompt", flat=True)) == {""}
    queued.refresh_from_db()
    running.refresh_from_db()
    assert queued.status == "canceled" and running.cancel_requested
    assert Appeal.objects.get(user=user).text == ""
    assert Report.objects.get(reporter=user).details == ""


@pytest.mark.django_db
def test_the_share_page_of_a_deleted_account_is_gone(client):
    user = UserFactory.create()
    image = _stored_image(GenerationFactory.create(user=user, status="succeeded"), 0)
    Share.objects.create(image=image, slug="gone-soon")
    assert client.get("/s/gone-soon").status_code == 200
    user_delete(user=user)
    assert client.get("/s/gone-soon").status_code == 404
