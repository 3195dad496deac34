"""Public sharing of one image at `/s/<slug>`.

Only a delivered image that moderation has cleared can be shared: never one under review, never
one withheld or taken down. A takedown (generation.services.images.image_take_down)
marks the share taken down; the share page also re-checks the image row on every request
(generation.selectors.sharing), so it answers 410 at once either way.
"""

import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from common.errors import Conflict, InvalidRequest, PermissionDenied
from generation.models import Image, Share
from generation.selectors.jobs import image_get_for_owner
from generation.services.cdn import media_copies_purge
from moderation.selectors import image_shareable

SLUG_BYTES = 8  # 11 URL-safe characters: unguessable, short enough to paste


def _new_slug() -> str:
    return secrets.token_urlsafe(SLUG_BYTES)


def _owned_image_for_update(*, user: User, image_id: uuid.UUID) -> Image:
    return image_get_for_owner(user=user, image_id=image_id, for_update=True)


def _check_shareable(*, image: Image) -> None:
    if image.status == Image.Status.REMOVED:
        raise PermissionDenied(
            "This image was removed under the content policy and cannot be shared."
        )
    if image.status != Image.Status.DELIVERED or not image.storage_key:
        raise InvalidRequest("Only delivered images can be shared.", param="image")
    if image.under_review or not image_shareable(image_id=image.pk):
        raise Conflict(
            "This image is waiting for a reviewer. You can share it once it has been cleared.",
            param="image",
        )


def _check_explore_choice(*, user: User, in_explore: bool) -> None:
    if not in_explore and not user.tier.private_images_allowed:
        raise PermissionDenied(
            f"Shared images appear in Explore on the {user.tier.display_name} plan. "
            "Upgrade your plan to keep shared images out of Explore."
        )


def share_enable(*, user: User, image_id: uuid.UUID, in_explore: bool = True) -> Share:
    """Turns sharing on. Idempotent: sharing a shared image returns its existing link."""
    _check_explore_choice(user=user, in_explore=in_explore)
    with transaction.atomic():
        image = _owned_image_for_update(user=user, image_id=image_id)
        _check_shareable(image=image)
        share = Share.objects.select_for_update().filter(image=image).first()
        if share is None:
            return _share_insert(image=image, in_explore=in_explore)
        if share.taken_down_at is not None:
            raise PermissionDenied(
                "This image was removed under the content policy and cannot be shared."
            )
        share.is_active = True
        share.in_explore = in_explore
        share.save(update_fields=["is_active", "in_explore", "updated_at"])
        return share


def _share_insert(*, image: Image, in_explore: bool) -> Share:
    # A slug collision is astronomically unlikely; retry rather than fail if it ever happens.
    for _ in range(3):
        try:
            with transaction.atomic():
                return Share.objects.create(image=image, slug=_new_slug(), in_explore=in_explore)
        except IntegrityError:
            continue
    raise Conflict("Could not create a share link; try again.")


def share_disable(*, user: User, image_id: uuid.UUID) -> None:
    """Turns sharing off: the link answers 404 until sharing is turned on again. Idempotent."""
    with transaction.atomic():
        image = _owned_image_for_update(user=user, image_id=image_id)
        shares = Share.objects.filter(image=image, is_active=True)
        slugs = list(shares.values_list("slug", flat=True))
        shares.update(is_active=False, updated_at=timezone.now())
        media_copies_purge(storage_keys=[], share_slugs=slugs)


# A viewer counts once per share per this many seconds (a day): reloading, or a script
# hammering the page from one address, adds nothing.
SHARE_VIEW_WINDOW_SECONDS = 24 * 3600


def share_view_record(*, share: Share, viewer: str) -> bool:
    """Count a view of the share page by `viewer` (an account id or a visitor's address, as
    the view chooses) once a day. The owner's own views never count. Writes to the database
    only for a new viewer: a cache key remembers who already counted (keyed on a hash, so no
    address is stored). True when the view counted."""
    if viewer == f"user:{share.image.generation.user_id}":
        return False
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{share.pk}:{viewer}".encode()).hexdigest()
    if not cache.add(f"share-view:{digest[:32]}", 1, timeout=SHARE_VIEW_WINDOW_SECONDS):
        return False
    Share.objects.filter(pk=share.pk).update(view_count=F("view_count") + 1)
    return True
