"""Sharing and collections services: the rules, idempotency, and real concurrent requests."""

import pytest

from common.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from generation.models import CollectionItem, Image, Share
from generation.selectors.sharing import collection_images, explore_shares, share_get_public
from generation.services.collections import collection_add_image, collection_create
from generation.services.images import image_take_down
from generation.services.sharing import share_disable, share_enable
from moderation.models import Case
from moderation.services.cases import case_open
from tests.concurrency import run_concurrently
from tests.factories import UserFactory, ensure_tiers
from tests.frontend.conftest import stored_image


@pytest.mark.django_db
def test_only_delivered_cleared_images_of_the_owner_can_be_shared(user, other_user, staff_user):
    withheld = stored_image(user=user, status=Image.Status.WITHHELD)
    with pytest.raises(InvalidRequest):
        share_enable(user=user, image_id=withheld.pk)
    waiting = stored_image(user=user)
    case_open(
        source=Case.Source.REVIEW_DECISION,
        image_id=waiting.pk,
        subject_user=user,
        category="violence",
    )
    with pytest.raises(Conflict):
        share_enable(user=user, image_id=waiting.pk)
    mine = stored_image(user=user)
    with pytest.raises(NotFound):
        share_enable(user=other_user, image_id=mine.pk)
    assert not Share.objects.exists()


@pytest.mark.django_db
def test_a_taken_down_image_can_never_be_shared_again(user, image, staff_user):
    share = share_enable(user=user, image_id=image.pk)
    image_take_down(image_id=image.pk, actor=staff_user, reason="policy")
    with pytest.raises(PermissionDenied):
        share_enable(user=user, image_id=image.pk)
    assert share_get_public(slug=share.slug).gone
    assert not explore_shares().exists()


@pytest.mark.django_db
def test_share_off_then_on_keeps_the_same_link(user, image):
    first = share_enable(user=user, image_id=image.pk)
    share_disable(user=user, image_id=image.pk)
    share_disable(user=user, image_id=image.pk)  # idempotent
    with pytest.raises(NotFound):
        share_get_public(slug=first.slug)
    again = share_enable(user=user, image_id=image.pk)
    assert again.slug == first.slug and again.is_active


@pytest.mark.django_db
def test_keeping_out_of_explore_needs_a_tier_that_allows_it(user, pro_user):
    with pytest.raises(PermissionDenied):
        share_enable(user=user, image_id=stored_image(user=user).pk, in_explore=False)
    share = share_enable(user=pro_user, image_id=stored_image(user=pro_user).pk, in_explore=False)
    assert share.in_explore is False and not explore_shares().exists()


@pytest.mark.django_db
def test_collections_names_and_public_view(user, other_user):
    collection = collection_create(user=user, name="  Sea   and sky ")
    assert collection.name == "Sea and sky"
    with pytest.raises(Conflict):
        collection_create(user=user, name="Sea and sky")
    with pytest.raises(InvalidRequest):
        collection_create(user=user, name=" ")
    collection_create(user=other_user, name="Sea and sky")  # names are per user
    shared, private = stored_image(user=user), stored_image(user=user)
    share_enable(user=user, image_id=shared.pk)
    for picture in (shared, private, shared):
        collection_add_image(user=user, collection_id=collection.pk, image_id=picture.pk)
    assert CollectionItem.objects.filter(collection=collection).count() == 2
    assert set(collection_images(collection=collection, viewer=user)) == {shared, private}
    assert list(collection_images(collection=collection, viewer=other_user)) == [shared]
    with pytest.raises(NotFound):
        collection_add_image(user=other_user, collection_id=collection.pk, image_id=shared.pk)


def _run_at_once(count: int, work) -> list:  # type: ignore[no-untyped-def]
    """`count` threads, each with its own database connection, released together."""
    return run_concurrently([work] * count)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_share_requests_make_one_link():
    ensure_tiers()
    owner = UserFactory()
    picture = stored_image(user=owner)
    results = _run_at_once(6, lambda: share_enable(user=owner, image_id=picture.pk).slug)
    assert all(isinstance(result, str) for result in results), results
    assert len(set(results)) == 1
    assert Share.objects.filter(image=picture).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_and_creates_keep_one_row_each():
    ensure_tiers()
    owner = UserFactory()
    picture = stored_image(user=owner)
    collection = collection_create(user=owner, name="Birds")
    added = _run_at_once(
        6,
        lambda: (
            collection_add_image(user=owner, collection_id=collection.pk, image_id=picture.pk).pk
        ),
    )
    assert len(set(added)) == 1 and CollectionItem.objects.count() == 1
    created = _run_at_once(4, lambda: collection_create(user=owner, name="Fish").pk)
    assert sum(isinstance(result, int) for result in created) == 1
    assert all(isinstance(result, (int, Conflict)) for result in created), created
