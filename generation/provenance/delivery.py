"""The bytes every delivered image is stored as: the marks (signature, watermark, text fields),
the encoding in the job's output format (PNG, JPEG or WebP), then signed content credentials.
The worker's delivery and a release from the quarantine both call it, so no image reaches its
owner without them."""

from PIL import Image as PILImage

from generation.models import Image
from generation.provenance.credentials import credentials_sign
from generation.provenance.marks import image_mark
from generation.services.image_options import MIME_TYPES


def delivered_image(*, picture: PILImage.Image, image: Image, ingredient: bytes | None) -> bytes:
    """`ingredient`: the uploaded input of an edit or variation (None when it is no longer
    kept: the manifest then says so instead of naming it). `picture` RGBA keeps its alpha in
    PNG and WebP (a transparent background)."""
    generation = image.generation
    content = image_mark(
        picture,
        model=generation.model,
        seed=image.seed,
        generation_id=generation.pk,
        image_id=image.pk,
        output_format=generation.output_format,
        compression=generation.output_compression,
    )
    # Signed last, over the bytes as delivered: any later re-encoding would drop it.
    return credentials_sign(
        content,
        MIME_TYPES[generation.output_format],
        image_id=image.pk,
        model=generation.model,
        operation=generation.operation,
        created_at=image.created_at,
        ingredient=ingredient,
    )
