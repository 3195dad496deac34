"""The native API's sharing and collections endpoints (generation/api/sharing.py): thin views over
the sharing and collections services, owner-only, in OpenAI's error shape."""

import pytest
from django.test import Client

from generation.models import Collection, CollectionItem, Generation, Image, Share
from generation.services.images import image_take_down
from generation.services.storage import image_key, storage_write
from tests.generation.api_helpers import customer, png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def pro(settings):  # type: ignore[no-untyped-def]
    settings.SITE_URL = "https://easel.example"
    return customer(tier="pro", settings=settings)


@pytest.fixture
def http():  # type: ignore[no-untyped-def]
    return Client()


def _image(user, *, status: str = Image.Status.DELIVERED, under_review: bool = False) -> Image:  # type: ignore[no-untyped-def]
    generation = Generation.objects.create(
        user=user,
        source=Generation.Source.NATIVE_API,
        operation=Generation.Operation.GENERATE,
        model="easel/tiny",
        prompt="a lighthouse at dusk",
        n=1,
        size=256,
        width=256,
        height=256,
        steps=2,
        guidance_scale=0.0,
        seed=7,
        status=Generation.Status.SUCCEEDED,
    )
    key = image_key(generation_id=generation.pk, index=0)
    storage_write(key=key, content=png_bytes(16, mode="RGB"))
    return Image.objects.create(
        generation=generation,
        index=0,
        seed=7,
        width=256,
        height=256,
        status=status,
        storage_key=key if status == Image.Status.DELIVERED else "",
        under_review=under_review,
    )


def _share(http, who, image, body=None):  # type: ignore[no-untyped-def]
    return http.post(
        f"/api/v1/images/{image.pk}/share",
        body or {"in_explore": True},
        content_type="application/json",
        **who.auth,
    )


def _error(response) -> dict:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"error"} and {"message", "type", "param", "code"} <= set(body["error"])
    return body["error"]


# --- Sharing -----------------------------------------------------------------------------------


def test_share_answers_the_link_and_is_idempotent(http, pro):
    image = _image(pro.user)
    first = _share(http, pro, image)
    assert first.status_code == 200, first.content
    share = first.json()
    assert share["url"] == f"https://easel.example/s/{share['slug']}"
    assert share["image_id"] == str(image.pk) and share["in_explore"] is True
    again = _share(http, pro, image, {"in_explore": False})
    assert again.json()["slug"] == share["slug"] and again.json()["in_explore"] is False
    assert http.get(f"/s/{share['slug']}").status_code == 200

    assert http.delete(f"/api/v1/images/{image.pk}/share", **pro.auth).status_code == 204
    assert http.delete(f"/api/v1/images/{image.pk}/share", **pro.auth).status_code == 204
    assert http.get(f"/s/{share['slug']}").status_code == 404
    assert _share(http, pro, image).json()["slug"] == share["slug"]  # the same link back


def test_another_users_image_is_not_found_and_nothing_changes(http, pro, settings):
    stranger = customer(settings=settings)
    image = _image(stranger.user)
    response = _share(http, pro, image)
    assert response.status_code == 404 and _error(response)["code"] == "not_found"
    deleted = http.delete(f"/api/v1/images/{image.pk}/share", **pro.auth)
    assert deleted.status_code == 404
    assert not Share.objects.exists()


@pytest.mark.parametrize(
    ("status", "under_review", "code"),
    [
        (Image.Status.DELIVERED, True, 409),  # waiting for a reviewer
        (Image.Status.REMOVED, False, 403),  # taken down
        (Image.Status.WITHHELD, False, 400),  # never delivered
    ],
)
def test_images_under_review_or_removed_cannot_be_shared(http, pro, status, under_review, code):
    image = _image(pro.user, status=status, under_review=under_review)
    response = _share(http, pro, image)
    assert response.status_code == code, response.content
    assert _error(response)["message"]
    assert not Share.objects.exists()


def test_free_plan_shares_appear_in_explore(http, settings):
    free = customer(tier="free", settings=settings)
    image = _image(free.user)
    response = _share(http, free, image, {"in_explore": False})
    assert response.status_code == 403 and "Explore" in _error(response)["message"]
    assert not Share.objects.exists()


def test_bad_body_is_400_in_openais_shape(http, pro):
    image = _image(pro.user)
    response = _share(http, pro, image, {"in_explore": "perhaps"})
    assert response.status_code == 400 and _error(response)["param"] == "in_explore"
    assert not Share.objects.exists()


def test_takedown_makes_the_share_gone(http, pro):
    image = _image(pro.user)
    slug = _share(http, pro, image).json()["slug"]
    image_take_down(image_id=image.pk, actor=None, reason="policy")
    assert http.get(f"/s/{slug}").status_code == 410
    again = _share(http, pro, image)
    assert again.status_code == 403


def test_a_read_only_key_cannot_share_but_can_list(http, pro, settings):
    reader = customer(settings=settings, scopes=["images.read"])
    image = _image(reader.user)
    response = _share(http, reader, image)
    assert response.status_code == 403 and _error(response)["code"] == "missing_scope"
    assert http.get("/api/v1/collections", **reader.auth).status_code == 200
    assert not Share.objects.exists()


# --- Collections -------------------------------------------------------------------------------


def test_collection_lifecycle(http, pro):
    image = _image(pro.user)
    created = http.post(
        "/api/v1/collections",
        {"name": "  Lighthouses "},
        content_type="application/json",
        **pro.auth,
    )
    assert created.status_code == 201, created.content
    collection = created.json()
    assert collection["name"] == "Lighthouses" and collection["is_public"] is False
    assert collection["url"] == f"https://easel.example/c/{collection['slug']}/"
    assert collection["image_ids"] == []
    base = f"/api/v1/collections/{collection['id']}"

    for _ in range(2):  # adding twice keeps one item
        added = http.post(f"{base}/images/{image.pk}", **pro.auth)
        assert added.status_code == 200 and added.json()["image_ids"] == [str(image.pk)]
    assert CollectionItem.objects.count() == 1

    listed = http.get("/api/v1/collections", **pro.auth).json()["data"]
    assert [c["id"] for c in listed] == [collection["id"]]
    patched = http.patch(
        base, {"name": "Coast", "is_public": True}, content_type="application/json", **pro.auth
    )
    assert patched.status_code == 200 and patched.json()["is_public"] is True
    assert http.get(base, **pro.auth).json()["name"] == "Coast"

    assert http.delete(f"{base}/images/{image.pk}", **pro.auth).status_code == 204
    assert http.get(base, **pro.auth).json()["image_ids"] == []
    assert http.delete(base, **pro.auth).status_code == 204
    assert http.get(base, **pro.auth).status_code == 404
    assert Image.objects.filter(pk=image.pk).exists()  # the image stays


def test_collections_are_owner_only(http, pro, settings):
    stranger = customer(settings=settings)
    theirs = Collection.objects.create(user=stranger.user, name="Theirs", slug="theirs-1")
    their_image = _image(stranger.user)
    base = f"/api/v1/collections/{theirs.pk}"
    assert http.get(base, **pro.auth).status_code == 404
    patch = http.patch(base, {"name": "Mine"}, content_type="application/json", **pro.auth)
    assert patch.status_code == 404 and _error(patch)["code"] == "not_found"
    assert http.delete(base, **pro.auth).status_code == 404
    assert http.post(f"{base}/images/{their_image.pk}", **pro.auth).status_code == 404
    assert http.get("/api/v1/collections", **pro.auth).json()["data"] == []
    # Someone else's image into my own collection: not found either.
    mine = http.post(
        "/api/v1/collections", {"name": "Mine"}, content_type="application/json", **pro.auth
    ).json()
    added = http.post(f"/api/v1/collections/{mine['id']}/images/{their_image.pk}", **pro.auth)
    assert added.status_code == 404
    assert Collection.objects.get(pk=theirs.pk).name == "Theirs"
    assert not CollectionItem.objects.exists()


def test_collection_names_are_checked_and_unique(http, pro):
    post = lambda body: http.post(  # noqa: E731
        "/api/v1/collections", body, content_type="application/json", **pro.auth
    )
    assert post({"name": "Coast"}).status_code == 201
    duplicate = post({"name": "Coast"})
    assert duplicate.status_code == 409 and _error(duplicate)["param"] == "name"
    blank = post({"name": "   "})
    assert blank.status_code == 400 and _error(blank)["param"] == "name"
    assert Collection.objects.count() == 1
