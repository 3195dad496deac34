"""Collections: named sets of a user's own images, private or public."""

import secrets
import uuid

from django.db import IntegrityError, transaction

from accounts.models import User
from common.errors import Conflict, InvalidRequest, NotFound
from generation.models import Collection, CollectionItem
from generation.selectors.jobs import image_get_for_owner

MAX_NAME_LENGTH = 100


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidRequest(
            f"A collection's name must be 1 to {MAX_NAME_LENGTH} characters.", param="name"
        )
    return name


def _owned(*, user: User, collection_id: int) -> Collection:
    collection = Collection.objects.filter(pk=collection_id, user=user).first()
    if collection is None:
        raise NotFound("No such collection.", param="collection")
    return collection


def collection_create(*, user: User, name: str, is_public: bool = False) -> Collection:
    name = _clean_name(name)
    try:
        with transaction.atomic():
            return Collection.objects.create(
                user=user, name=name, is_public=is_public, slug=secrets.token_urlsafe(8)
            )
    except IntegrityError as error:
        raise Conflict(f"You already have a collection named '{name}'.", param="name") from error


def collection_update(
    *, user: User, collection_id: int, name: str | None = None, is_public: bool | None = None
) -> Collection:
    collection = _owned(user=user, collection_id=collection_id)
    if name is not None:
        collection.name = _clean_name(name)
    if is_public is not None:
        collection.is_public = is_public
    try:
        with transaction.atomic():
            collection.save(update_fields=["name", "is_public", "updated_at"])
    except IntegrityError as error:
        raise Conflict(
            f"You already have a collection named '{collection.name}'.", param="name"
        ) from error
    return collection


def collection_delete(*, user: User, collection_id: int) -> None:
    """Deletes the set, never the images in it."""
    _owned(user=user, collection_id=collection_id).delete()


def collection_add_image(*, user: User, collection_id: int, image_id: uuid.UUID) -> CollectionItem:
    """Idempotent: adding an image twice keeps one item. Only the user's own live images."""
    collection = _owned(user=user, collection_id=collection_id)
    image = image_get_for_owner(user=user, image_id=image_id, delivered=True)
    item, _ = CollectionItem.objects.get_or_create(collection=collection, image=image)
    return item


def collection_remove_image(*, user: User, collection_id: int, image_id: uuid.UUID) -> None:
    collection = _owned(user=user, collection_id=collection_id)
    CollectionItem.objects.filter(collection=collection, image_id=image_id).delete()
