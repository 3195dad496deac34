"""Reads of the accounts app: what a tier allows, a user's keys."""

from django.db.models import QuerySet

from accounts.models import ApiKey, Tier, User
from common.errors import InvalidRequest, NotFound
from generation.services.image_options import ImageSize, size_limit_check, size_parse

# Operations that take an uploaded image (DALL-E 2's edits and variations).
UPLOAD_OPERATIONS = frozenset({"edit", "variation"})


def size_label(pixels: int) -> str:
    return f"{pixels}x{pixels}"


def tier_limits_check(
    *, user: User, n: int, size: ImageSize | int | str | None, operation: str
) -> None:
    """Raises InvalidRequest (param n, size or image) when the user's tier does not allow this.
    `size`: the image's shape (an int is a square's side, a str is parsed as the APIs do)."""
    tier = user.tier
    if operation in UPLOAD_OPERATIONS and not tier.uploads_allowed:
        raise InvalidRequest(
            f"Image {operation}s of uploaded images are not available on the "
            f"{tier.display_name} plan. Upgrade your plan to use them.",
            param="image",
        )
    if n < 1:
        raise InvalidRequest(
            f"Invalid 'n': integer below minimum value. Expected a value >= 1, "
            f"but got {n} instead.",
            param="n",
        )
    if n > tier.max_n:
        raise InvalidRequest(
            f"Invalid 'n': your {tier.display_name} plan allows at most {tier.max_n} images "
            f"per request, but got {n} instead.",
            param="n",
        )
    if size is None:
        return
    if not isinstance(size, ImageSize):
        size = size_parse(size)
        if size is None:  # auto: settled with the model, within this cap
            return
    size_limit_check(size=size, max_pixels=tier.max_pixels, whose=f"the {tier.display_name} plan's")


def tier_get(*, name: str) -> Tier:
    tier = Tier.objects.filter(name=name.strip().lower()).first()
    if tier is None:
        names = ", ".join(Tier.objects.values_list("name", flat=True))
        raise InvalidRequest(f"Unknown tier '{name}'; choose one of {names}.", param="tier")
    return tier


def user_get_by_email(*, email: str) -> User:
    """The live (not deleted) account with this e-mail address, whatever its case."""
    user = User.objects.select_related("tier").filter(email__iexact=email.strip()).first()
    if user is None or user.deleted_at is not None:
        raise NotFound(f"No account with the e-mail address '{email}'.", param="email")
    return user


def api_keys_for_user(*, user: User, include_revoked: bool = False) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.filter(user=user).order_by("-created_at", "-pk")
    if not include_revoked:
        keys = keys.filter(revoked_at__isnull=True)
    return keys


def api_key_get_for_user(*, user: User, prefix: str) -> ApiKey:
    key = ApiKey.objects.filter(user=user, prefix=prefix).first()
    if key is None:
        raise NotFound(f"No API key with the prefix '{prefix}'.", param="prefix")
    return key


def api_key_get_by_prefix(*, prefix: str) -> ApiKey:
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None:
        raise NotFound(f"No API key with the prefix '{prefix}'.", param="prefix")
    return key
