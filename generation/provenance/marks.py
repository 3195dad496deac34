"""The marks every delivered image gets before its content credentials: the visible signature,
the invisible watermark and PNG text fields."""

import io
import uuid

from PIL import Image as PILImage
from PIL import ImageDraw
from PIL.PngImagePlugin import PngInfo

from generation.provenance.watermark import watermark_embed

# DALL-E 2's signature colours, left to right.
SIGNATURE_COLOURS = ((255, 255, 102), (66, 255, 255), (81, 218, 76), (255, 110, 60), (60, 70, 255))


def signature_draw(image: PILImage.Image) -> PILImage.Image:
    """Five small coloured squares in the bottom-right corner, like DALL-E 2's."""
    image = image.convert("RGB").copy()
    side = max(4, image.width // 64)
    draw = ImageDraw.Draw(image)
    right, bottom = image.width, image.height
    for position, colour in enumerate(reversed(SIGNATURE_COLOURS)):
        x1 = right - position * side
        draw.rectangle((x1 - side, bottom - side, x1 - 1, bottom - 1), fill=colour)
    return image


def png_metadata(
    *, model: str, seed: int, generation_id: uuid.UUID, image_id: uuid.UUID
) -> PngInfo:
    info = PngInfo()
    info.add_text("Software", "Easel")
    info.add_text("easel:model", model)
    info.add_text("easel:seed", str(seed))
    info.add_text("easel:generation_id", str(generation_id))
    info.add_text("easel:image_id", str(image_id))
    return info


def image_mark(
    image: PILImage.Image, *, model: str, seed: int, generation_id: uuid.UUID, image_id: uuid.UUID
) -> bytes:
    """The delivered PNG: signature, then watermark (so it covers the corner too), metadata.
    Content credentials are signed into these bytes afterwards (credentials_sign)."""
    marked = watermark_embed(signature_draw(image), image_id=image_id)
    buffer = io.BytesIO()
    marked.save(
        buffer,
        format="PNG",
        pnginfo=png_metadata(
            model=model, seed=seed, generation_id=generation_id, image_id=image_id
        ),
    )
    return buffer.getvalue()
