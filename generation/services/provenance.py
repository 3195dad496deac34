"""Did Easel make this image? Anyone may ask; the answer reveals nothing about anyone else.

Two witnesses, the stronger first:
1. Content credentials (a C2PA manifest): signed with Easel's certificate, they say when and
   with which model, and name the image. Any re-encoding drops them.
2. The invisible watermark: it survives re-encoding, resizing, crops and screenshots, and names
   the image by the first 48 bits of its id, under EASEL_WATERMARK_KEY, which a forger lacks.
PNG text fields (metadata) are reported as what the file claims, never as proof.

Everyone learns whether Easel made it, when, and with which model. Only the owner, signed in,
learns which of their images it is. Nobody learns whose image it is, its prompt, or sees it.
"""

import datetime
import io
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from PIL import Image as PILImage

from accounts.models import User
from accounts.services.rate_limits import scoped_rate_limit_consume
from common.errors import InvalidRequest
from generation.models import Image
from generation.provenance.credentials import (
    CredentialsReading,
    credentials_read,
    image_mime_type,
)
from generation.provenance.watermark import id_range, watermark_read
from generation.services.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_MB, MAX_UPLOAD_PIXELS

RATE_LIMIT_SCOPE = "provenance"


@dataclass(frozen=True)
class ProvenanceResult:
    made_by_easel: bool
    found_by: str | None = None  # "content_credentials" or "watermark"
    created_at: datetime.datetime | None = None
    model: str | None = None
    operation: str | None = None  # "generate", "edit" or "variation"
    credentials: CredentialsReading | None = None  # any manifest the file carries, validated
    watermark_confidence: float = 0.0
    own_image: Image | None = None  # set only when the asker owns the image
    metadata: dict[str, str] = field(default_factory=dict)  # what the file claims (unverified)


def _open(image_bytes: bytes) -> PILImage.Image:
    if not image_bytes:
        raise InvalidRequest("'image' is a required property.", param="image")
    if len(image_bytes) >= MAX_UPLOAD_BYTES:
        raise InvalidRequest(f"The image must be less than {MAX_UPLOAD_MB} MB.", param="image")
    try:
        picture = PILImage.open(io.BytesIO(image_bytes))
        if picture.width * picture.height > MAX_UPLOAD_PIXELS:
            raise InvalidRequest("The image is too large in pixels.", param="image")
        picture.load()
    except InvalidRequest:
        raise
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError):
        raise InvalidRequest(
            "The file could not be read as an image (PNG, JPEG or WebP).", param="image"
        ) from None
    return picture


def _claimed_metadata(picture: PILImage.Image) -> dict[str, str]:
    return {
        key: str(value)
        for key, value in getattr(picture, "text", {}).items()
        if key.startswith("easel:") or key == "Software"
    }


def _image_by_id(image_id: uuid.UUID) -> Image | None:
    return Image.objects.select_related("generation").filter(pk=image_id).first()


def _image_by_prefix(prefix: int, *, asker: User | None) -> Image | None:
    """The image a watermark names. 48 bits can (rarely) name two images: then the asker's own,
    if one of them is; else only an unambiguous match."""
    low, high = id_range(prefix)
    candidates = list(
        Image.objects.select_related("generation").filter(pk__gte=low, pk__lte=high)[:8]
    )
    if asker is not None:
        for image in candidates:
            if image.generation.user_id == asker.pk:
                return image
    return candidates[0] if len(candidates) == 1 else None


def _owned(image: Image | None, asker: User | None) -> Image | None:
    if image is None or asker is None or image.deleted_at is not None:
        return None
    return image if image.generation.user_id == asker.pk else None


def provenance_check(*, image_bytes: bytes, asker: User | None, address: str) -> ProvenanceResult:
    """Reads the file's content credentials, else its watermark. `asker` is the signed-in
    person (None: anonymous); checks are rate-limited per account, else per `address`."""
    scoped_rate_limit_consume(
        scope=RATE_LIMIT_SCOPE,
        limit=settings.EASEL_PROVENANCE_CHECKS_PER_MINUTE,
        user=asker,
        address=address,
    )
    picture = _open(image_bytes)
    metadata = _claimed_metadata(picture)
    mime_type = image_mime_type(image_bytes)
    credentials = credentials_read(image_bytes, mime_type) if mime_type else None
    if credentials is not None and credentials.by_easel:
        image = _image_by_id(credentials.image_id) if credentials.image_id else None
        return ProvenanceResult(
            made_by_easel=True,
            found_by="content_credentials",
            created_at=image.created_at if image else credentials.created_at,
            model=image.generation.model if image else credentials.model,
            operation=image.generation.operation if image else None,
            credentials=credentials,
            own_image=_owned(image, asker),
            metadata=metadata,
        )
    reading = watermark_read(picture)
    if reading.id_prefix is None:
        return ProvenanceResult(
            made_by_easel=False,
            credentials=credentials,
            watermark_confidence=reading.confidence,
            metadata=metadata,
        )
    image = _image_by_prefix(reading.id_prefix, asker=asker)
    return ProvenanceResult(
        made_by_easel=True,
        found_by="watermark",
        created_at=image.created_at if image else None,
        model=image.generation.model if image else None,
        operation=image.generation.operation if image else None,
        credentials=credentials,
        watermark_confidence=reading.confidence,
        own_image=_owned(image, asker),
        metadata=metadata,
    )
