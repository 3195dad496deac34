"""Did Easel make this image, and which one? Read from the invisible watermark.

The watermark, not the PNG metadata, decides: metadata is stripped by a re-save and forged by
anyone; the watermark survives a JPEG re-save at quality 85 and cannot be forged without
EASEL_WATERMARK_KEY. Metadata that claims Easel is reported beside the answer.
"""

import io
import uuid
from dataclasses import dataclass, field

from PIL import Image as PILImage

from common.errors import InvalidRequest
from generation.models import Image
from generation.services.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS
from generation.watermark import watermark_read


@dataclass(frozen=True)
class ProvenanceResult:
    made_by_easel: bool
    image_id: uuid.UUID | None = None
    generation_id: uuid.UUID | None = None
    created_at: str | None = None
    confidence: float = 0.0
    metadata: dict[str, str] = field(default_factory=dict)  # what the file claims (unverified)


def _open(image_bytes: bytes) -> PILImage.Image:
    if not image_bytes:
        raise InvalidRequest("'image' is a required property.", param="image")
    if len(image_bytes) >= MAX_UPLOAD_BYTES:
        raise InvalidRequest("The image must be less than 4 MB.", param="image")
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


def provenance_check(*, image_bytes: bytes) -> ProvenanceResult:
    picture = _open(image_bytes)
    metadata = {
        key: str(value)
        for key, value in getattr(picture, "text", {}).items()
        if key.startswith("easel:") or key == "Software"
    }
    reading = watermark_read(picture)
    if reading.image_id is None:
        return ProvenanceResult(
            made_by_easel=False, confidence=reading.confidence, metadata=metadata
        )
    row = Image.objects.filter(pk=reading.image_id).select_related("generation").first()
    return ProvenanceResult(
        made_by_easel=True,
        image_id=reading.image_id,
        generation_id=row.generation_id if row else None,
        created_at=row.created_at.isoformat() if row else None,
        confidence=reading.confidence,
        metadata=metadata,
    )
