"""Create, progress, history, the image page and what it offers; nobody sees another's images."""

import base64
import io

import pytest
from PIL import Image as PILImage

from billing.selectors import balance_summary
from generation.models import Collection, CollectionItem, Generation, Share
from generation.services.progress import progress_publish
from tests.frontend.conftest import stored_image

pytestmark = pytest.mark.django_db


def test_pages_need_a_login(client, image):
    for url in (
        "/create/",
        "/history/",
        f"/i/{image.pk}/",
        f"/i/{image.pk}/image.png",
        "/billing/",
        "/developers/",
        "/account/",
        "/collections/",
        f"/g/{image.generation_id}/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url


def test_create_page_shows_the_cost_inputs_and_balance(user_client, user):
    response = user_client.get("/create/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-prices="256x256:1,512x512:1,384x256:1,' in body  # per size offered
    assert f'data-balance="{balance_summary(user=user).balance}"' in body
    assert 'maxlength="1000"' in body
    assert "Advanced" in body and 'name="seed"' in body


def test_create_rejects_bad_input_and_creates_nothing(user_client):
    for data in (
        {"prompt": "", "n": 1, "size": 256},
        {"prompt": "x" * 1001, "n": 1, "size": 256},
        {"prompt": "a cat", "n": 0, "size": 256},
        {"prompt": "a cat", "n": 1, "size": 999},
        {"prompt": "a cat", "n": 1, "size": 256, "seed": -5},
        {"prompt": "a cat", "n": "many", "size": 256},
    ):
        response = user_client.post("/create/", data)
        assert response.status_code == 400, data
    assert not Generation.objects.exists()


def test_create_beyond_the_tier_shows_the_plans_rule(user_client, user):
    response = user_client.post(
        "/create/", {"prompt": "a cat", "n": user.tier.max_n + 1, "size": 256}
    )
    assert response.status_code == 400
    assert not Generation.objects.exists()


def test_blocked_prompt_explains_the_rule_links_to_appeal_and_costs_nothing(user_client, user):
    before = balance_summary(user=user).balance
    response = user_client.post(
        "/create/", {"prompt": "a photo of Barack Obama smiling", "n": 1, "size": 256}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "content policy" in body
    assert "public figures" in body and "Obama" not in body.split("<textarea")[0]
    assert 'href="/appeals/"' in body
    assert balance_summary(user=user).balance == before
    assert not Generation.objects.exists()


def test_create_starts_a_generation_and_the_progress_page_shows_its_images(
    user_client, user, django_capture_on_commit_callbacks
):
    """Celery runs eagerly here: the tiny model really runs in-process once the request commits."""
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.post(
            "/create/", {"prompt": "a red fox in snow", "n": 2, "size": 256, "seed": 7}
        )
    assert response.status_code == 302
    generation = Generation.objects.get(user=user)
    assert response["Location"] == f"/g/{generation.pk}/"
    assert generation.seed == 7 and generation.n == 2
    assert generation.status == Generation.Status.SUCCEEDED
    page = user_client.get(f"/g/{generation.pk}/").content.decode()
    assert "a red fox in snow" in page and 'data-status="succeeded"' in page
    progress = user_client.get(
        f"/g/{generation.pk}/progress", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "hx-trigger" not in progress and "data-events" not in progress  # final: it stops
    delivered = list(generation.images.filter(status="delivered"))
    assert len(delivered) == 2
    for image in delivered:
        assert f"/i/{image.pk}/image.png" in progress


def test_progress_fragment_polls_while_queued_and_shows_queue_position(user_client, user):
    first = Generation.objects.create(
        user=user,
        source="web",
        operation="generate",
        model="easel/tiny",
        prompt="first",
        n=1,
        size=256,
        width=256,
        height=256,
        steps=2,
        guidance_scale=1,
        seed=1,
    )
    second = Generation.objects.create(
        user=user,
        source="web",
        operation="generate",
        model="easel/tiny",
        prompt="second",
        n=1,
        size=256,
        width=256,
        height=256,
        steps=2,
        guidance_scale=1,
        seed=1,
    )
    body = user_client.get(f"/g/{second.pk}/progress").content.decode()
    # The page follows the API's event stream and re-fetches this fragment on a new status.
    assert f'data-events="/g/{second.pk}/events"' in body
    assert 'hx-trigger="easel:refresh"' in body
    assert "Position 2 in the queue" in body
    Generation.objects.filter(pk=first.pk).update(
        status="running", progress_step=3, progress_total=8
    )
    body = user_client.get(f"/g/{first.pk}/progress").content.decode()
    assert "Step 3 of 8" in body
    # The row is written with the heartbeat (once a second); the worker publishes every step.
    progress_publish(generation_id=first.pk, status="running", step=5, total=8)
    body = user_client.get(f"/g/{first.pk}/progress").content.decode()
    assert "Step 5 of 8" in body and 'value="5"' in body


def test_someone_elses_generation_image_and_file_are_404(client, other_user, image):
    client.force_login(other_user)
    assert client.get(f"/g/{image.generation_id}/").status_code == 404
    assert client.get(f"/g/{image.generation_id}/progress").status_code == 404
    assert client.get(f"/i/{image.pk}/").status_code == 404
    assert client.get(f"/i/{image.pk}/image.png").status_code == 404
    assert client.post(f"/i/{image.pk}/delete").status_code == 404
    assert client.post(f"/i/{image.pk}/share", {"share": "on"}).status_code == 404
    assert not Share.objects.exists()


def test_history_is_paginated_searchable_and_private(user_client, user, other_user):
    for number in range(14):
        stored_image(user=user, prompt=f"lighthouse number {number}")
    stored_image(user=user, prompt="a walrus on ice")
    stored_image(user=other_user, prompt="secret walrus of someone else")
    body = user_client.get("/history/").content.decode()
    assert "a walrus on ice" in body and "Page 1 of 2" in body
    assert "someone else" not in body
    found = user_client.get("/history/?q=WALRUS").content.decode()
    assert "a walrus on ice" in found and "lighthouse number" not in found
    assert "someone else" not in found
    fragment = user_client.get("/history/?q=walrus", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and "a walrus on ice" in fragment


def test_image_page_shows_settings_and_download(user_client, image):
    body = user_client.get(f"/i/{image.pk}/").content.decode()
    assert "a lighthouse at dawn" in body and "<code>42</code>" in body
    download = user_client.get(f"/i/{image.pk}/image.png?download=1")
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]


def test_share_on_off_and_rules(user_client, user, image):
    response = user_client.post(f"/i/{image.pk}/share", {"share": "on", "in_explore": "on"})
    assert response.status_code == 302
    share = Share.objects.get(image=image)
    assert share.is_active and share.in_explore
    again = user_client.post(f"/i/{image.pk}/share", {"share": "on", "in_explore": "on"})
    assert again.status_code == 302 and Share.objects.count() == 1  # idempotent
    user_client.post(f"/i/{image.pk}/share", {})
    share.refresh_from_db()
    assert not share.is_active


def test_free_tier_cannot_keep_a_share_out_of_explore(user_client, image):
    response = user_client.post(f"/i/{image.pk}/share", {"share": "on"}, follow=True)
    assert "Upgrade your plan" in response.content.decode()
    assert not Share.objects.exists()


def test_image_under_review_cannot_be_shared(user_client, user):
    waiting = stored_image(user=user, under_review=True)
    response = user_client.post(
        f"/i/{waiting.pk}/share", {"share": "on", "in_explore": "on"}, follow=True
    )
    assert "waiting for a reviewer" in response.content.decode()
    assert not Share.objects.exists()


def test_delete_image_removes_it_from_pages(user_client, image):
    assert user_client.post(f"/i/{image.pk}/delete").status_code == 302
    assert user_client.get(f"/i/{image.pk}/").status_code == 404


def test_collections_create_add_public_view_and_privacy(client, user, other_user):
    client.force_login(user)
    kept = stored_image(user=user, prompt="a shared heron")
    private = stored_image(user=user, prompt="an unshared owl")
    client.post(f"/i/{kept.pk}/share", {"share": "on", "in_explore": "on"})
    client.post(f"/i/{kept.pk}/collect", {"name": "Birds"})
    collection = Collection.objects.get(user=user, name="Birds")
    client.post(f"/i/{private.pk}/collect", {"collection": collection.pk})
    assert CollectionItem.objects.filter(collection=collection).count() == 2
    duplicate = client.post("/collections/", {"name": "Birds"})
    assert duplicate.status_code == 400 and Collection.objects.filter(user=user).count() == 1
    owner_view = client.get(f"/c/{collection.slug}/").content.decode()
    assert "shared heron" in owner_view and "unshared owl" in owner_view
    client.force_login(other_user)
    assert client.get(f"/c/{collection.slug}/").status_code == 404  # private
    assert client.post(f"/i/{kept.pk}/collect", {"collection": collection.pk}).status_code == 404
    client.force_login(user)
    client.post(f"/c/{collection.slug}/update", {"name": "Birds", "is_public": "on"})
    client.logout()
    public_view = client.get(f"/c/{collection.slug}/").content.decode()
    assert "shared heron" in public_view and "unshared owl" not in public_view


def test_collect_with_neither_collection_nor_name_says_so(user_client, image):
    response = user_client.post(f"/i/{image.pk}/collect", {}, follow=True)
    assert "Choose a collection" in response.content.decode()


def _mask_data_url(side: int, *, hole: bool) -> str:
    mask = PILImage.new("RGBA", (side, side), (0, 0, 0, 255))
    if hole:
        for x in range(side // 2):
            for y in range(side // 2):
                mask.putpixel((x, y), (0, 0, 0, 0))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_edit_refuses_a_missing_broken_or_wrong_size_mask(user_client, pro_user, client):
    client.force_login(pro_user)
    picture = stored_image(user=pro_user)
    for mask in (
        "",
        "data:image/png;base64,!!!",
        _mask_data_url(128, hole=True),
        _mask_data_url(256, hole=False),
    ):
        response = client.post(f"/i/{picture.pk}/edit", {"prompt": "a boat", "n": 1, "mask": mask})
        assert response.status_code == 400, mask[:40]
    assert Generation.objects.filter(operation="edit").count() == 0


def test_edit_with_a_painted_mask_starts_an_edit(client, pro_user):
    client.force_login(pro_user)
    picture = stored_image(user=pro_user)
    response = client.post(
        f"/i/{picture.pk}/edit",
        {"prompt": "a red boat on the sea", "n": 1, "mask": _mask_data_url(256, hole=True)},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    edit = Generation.objects.get(operation="edit")
    assert edit.prompt == "a red boat on the sea" and edit.size == 256


def test_make_variations_starts_a_variation_of_the_image(user_client, user, image):
    response = user_client.post(f"/i/{image.pk}/variations", {"n": 1})
    variation = Generation.objects.get(operation="variation")
    assert response["Location"] == f"/g/{variation.pk}/"
    assert variation.size == image.width and variation.user == user


def test_variations_with_a_bad_n_explain_and_create_nothing(user_client, image):
    response = user_client.post(f"/i/{image.pk}/variations", {"n": "lots"}, follow=True)
    assert "below minimum value" in response.content.decode()
    assert not Generation.objects.filter(operation="variation").exists()


def test_cancel_a_queued_generation_returns_its_credits(user_client, user):
    with_credits = balance_summary(user=user).balance
    from tests.factories import job_admit

    generation = job_admit(
        user=user, source="web", operation="generate", prompt="a quiet harbour", n=2, size=256
    )
    assert balance_summary(user=user).balance == with_credits - 2
    response = user_client.post(f"/g/{generation.pk}/cancel")
    assert response.status_code == 302
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELED
    assert balance_summary(user=user).balance == with_credits
    assert "Canceled" in user_client.get(f"/g/{generation.pk}/").content.decode()


def test_collection_remove_and_delete_keep_the_images(user_client, user, image):
    user_client.post(f"/i/{image.pk}/collect", {"name": "Keep"})
    collection = Collection.objects.get(user=user)
    assert (
        user_client.post(f"/c/{collection.slug}/remove", {"image": "not-a-uuid"}).status_code == 302
    )
    assert CollectionItem.objects.count() == 1
    user_client.post(f"/c/{collection.slug}/remove", {"image": str(image.pk)})
    assert CollectionItem.objects.count() == 0
    user_client.post(f"/c/{collection.slug}/delete")
    assert not Collection.objects.exists()
    assert user_client.get(f"/i/{image.pk}/").status_code == 200


def test_an_image_whose_file_is_gone_answers_410_and_cannot_be_varied(user_client, image):
    from django.core.files.storage import default_storage

    default_storage.delete(image.storage_key)
    assert user_client.get(f"/i/{image.pk}/image.png").status_code == 410
    response = user_client.post(f"/i/{image.pk}/variations", {"n": 1}, follow=True)
    assert "no longer stored" in response.content.decode()
    response = user_client.post(
        f"/i/{image.pk}/extend", {"prompt": "more", "scale": "2", "direction": "up"}
    )
    assert response.status_code == 400 and "no longer stored" in response.content.decode()
    assert not Generation.objects.exclude(pk=image.generation_id).exists()
