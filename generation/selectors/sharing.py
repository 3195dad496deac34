"""Reads for public sharing: the share page, Explore, and an image's share state."""

from dataclasses import dataclass

from django.db.models import Count, QuerySet

from common.errors import NotFound
from generation.models import Collection, Image, Share


@dataclass(frozen=True)
class PublicShare:
    share: Share
    gone: bool  # taken down or deleted: the page answers 410 Gone

    @property
    def image(self) -> Image:
        return self.share.image


def _image_is_gone(image: Image) -> bool:
    return (
        image.status != Image.Status.DELIVERED
        or image.deleted_at is not None
        or not image.storage_key
    )


def share_get_public(*, slug: str) -> PublicShare:
    """The share behind `/s/<slug>`. NotFound when there is none or its owner turned it off.

    A takedown (or deletion) is `gone`: checked from the image row itself on every request,
    so it holds the moment the image changes, whatever else has or has not run yet.
    """
    share = Share.objects.select_related("image", "image__generation").filter(slug=slug).first()
    if share is None:
        raise NotFound("No such shared image.")
    if share.taken_down_at is not None or _image_is_gone(share.image):
        return PublicShare(share=share, gone=True)
    if not share.is_active or share.image.under_review:
        raise NotFound("No such shared image.")
    return PublicShare(share=share, gone=False)


EXPLORE_ORDERS = {
    "newest": ("-created_at", "-pk"),
    "views": ("-view_count", "-created_at", "-pk"),
}


def explore_shares(*, query: str = "", order: str = "newest") -> QuerySet[Share]:
    """Public images for the Explore gallery. `query` matches words of the prompt (all of
    them, case-insensitively); `order` is "newest" or "views" (most viewed first)."""
    shares = (
        Share.objects.select_related("image", "image__generation")
        .filter(
            is_active=True,
            in_explore=True,
            taken_down_at__isnull=True,
            image__status=Image.Status.DELIVERED,
            image__deleted_at__isnull=True,
            image__under_review=False,
        )
        .exclude(image__storage_key="")
    )
    for word in query.split()[:8]:
        shares = shares.filter(image__generation__prompt__icontains=word)
    return shares.order_by(*EXPLORE_ORDERS.get(order, EXPLORE_ORDERS["newest"]))


def share_for_image(*, image: Image) -> Share | None:
    return Share.objects.filter(image=image).first()


# --- Collections ----------------------------------------------------------------------------


def collections_for_user(*, user) -> QuerySet[Collection]:  # type: ignore[no-untyped-def]
    return Collection.objects.filter(user=user).annotate(item_count=Count("items")).order_by("name")


def collection_get_for_user(*, user, collection_id: int) -> Collection:  # type: ignore[no-untyped-def]
    """The user's own collection (the API addresses collections by id); NotFound otherwise."""
    collection = (
        Collection.objects.select_related("user").filter(pk=collection_id, user=user).first()
    )
    if collection is None:
        raise NotFound("No such collection.", param="collection")
    return collection


def collection_get_visible(*, slug: str, viewer) -> Collection:  # type: ignore[no-untyped-def]
    """The owner sees their collection; anyone sees a public one; otherwise NotFound (not 403,
    which would confirm that a private collection exists)."""
    collection = Collection.objects.select_related("user").filter(slug=slug).first()
    if collection is None:
        raise NotFound("No such collection.")
    if collection.user_id != getattr(viewer, "pk", None) and not collection.is_public:
        raise NotFound("No such collection.")
    return collection


def collection_images(*, collection: Collection, viewer) -> QuerySet[Image]:  # type: ignore[no-untyped-def]
    """The owner sees every live image; others see only what could be shared publicly."""
    images = Image.objects.filter(
        collection_items__collection=collection,
        deleted_at__isnull=True,
        status=Image.Status.DELIVERED,
    ).select_related("generation")
    if collection.user_id != getattr(viewer, "pk", None):
        images = images.filter(
            under_review=False, share__is_active=True, share__taken_down_at__isnull=True
        )
    return images.order_by("-collection_items__created_at")
