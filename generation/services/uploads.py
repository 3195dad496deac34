"""Checking uploaded images (edits and variations) by their bytes, never their declared type.

A PNG, JPEG or WebP under MAX_UPLOAD_BYTES, of any shape up to 3:1 (a job's `auto` size follows
its shape, `image_options.size_auto`), and so is each reference image sent after it; for an edit
without a mask the image needs transparency (the transparent area is what gets repainted); a
mask is an image of the same size.
Every refusal is an InvalidRequest (400) with param "image" or "mask" and changes nothing.
"""

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image as PILImage

from common.errors import InvalidRequest
from generation.services.image_options import aspect_allowed

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pillow's format name by the file's first bytes (WebP: RIFF....WEBP).
UPLOAD_FORMATS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}
# OpenAI allows 50 MB; a 4096x4096 PNG (the pixel cap below) is under 20 MB, so 20 MB is
# room enough for any image we accept and bounds what one request makes the server hold.
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_MB = MAX_UPLOAD_BYTES // 2**20
# Far above any real upload (the largest output is 1024): a bigger canvas is a decompression
# bomb, refused from the header alone, before a single pixel is decoded.
MAX_UPLOAD_PIXELS = 4096 * 4096
ALPHA_MODES = ("RGBA", "LA", "PA")


# References steer the result through a CLIP image encoder that sees 224 pixels; screening
# finds faces well at this size. Each is scaled down as soon as it is decoded, so sixteen large
# uploads never sit in memory at full size together.
REFERENCE_MAX_SIDE = 1024


@dataclass(frozen=True)
class ValidatedUpload:
    image: PILImage.Image  # decoded, RGBA
    mask: PILImage.Image | None  # decoded, RGBA
    references: tuple[PILImage.Image, ...] = ()  # decoded, RGB, at most REFERENCE_MAX_SIDE


def upload_format(data: bytes) -> str | None:
    """png, jpeg or webp by the first bytes; None for anything else."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def _open_image(data: bytes | None, *, param: str) -> PILImage.Image:
    if not data:
        raise InvalidRequest(f"'{param}' is a required property.", param=param)
    if len(data) >= MAX_UPLOAD_BYTES:
        raise InvalidRequest(
            f"Uploaded {param} must be a PNG, JPEG or WebP under {MAX_UPLOAD_MB} MB; got "
            f"{len(data) / 2**20:.1f} MB.",
            param=param,
        )
    kind = upload_format(data)
    if kind is None:
        raise InvalidRequest(
            f"Invalid input {param} - format must be PNG, JPEG or WebP. Uploaded {param} must "
            f"be one of those and under {MAX_UPLOAD_MB} MB.",
            param=param,
        )
    try:
        picture = PILImage.open(io.BytesIO(data), formats=[UPLOAD_FORMATS[kind]])
    except PILImage.DecompressionBombError:
        raise InvalidRequest(
            f"Invalid input {param} - too large in pixels (a decompression bomb); "
            "at most 4096x4096 pixels are accepted.",
            param=param,
        ) from None
    except (OSError, SyntaxError, ValueError):
        raise InvalidRequest(
            f"Invalid input {param} - the image file could not be read.", param=param
        ) from None
    width, height = picture.size
    if width * height > MAX_UPLOAD_PIXELS:
        raise InvalidRequest(
            f"Invalid input {param} - {width}x{height} pixels is too large in pixels; "
            "at most 4096x4096 pixels are accepted.",
            param=param,
        )
    if not aspect_allowed(width, height):
        raise InvalidRequest(
            f"Invalid input {param} - {width}x{height} is longer than 3:1; the aspect ratio may "
            "be at most 3:1, as for a size.",
            param=param,
        )
    return picture


def _decode(picture: PILImage.Image, *, param: str) -> PILImage.Image:
    has_alpha = picture.mode in ALPHA_MODES or "transparency" in picture.info
    try:
        picture.load()  # a truncated file fails here (LOAD_TRUNCATED_IMAGES stays False)
    except (OSError, SyntaxError, ValueError, PILImage.DecompressionBombError):
        raise InvalidRequest(
            f"Invalid input {param} - the image file is truncated or corrupt.", param=param
        ) from None
    decoded = picture.convert("RGBA")
    decoded.info["easel_had_alpha"] = has_alpha
    return decoded


def _reference(data: bytes) -> PILImage.Image:
    """A reference image, checked as the image is (param `image`: they come in one list)."""
    picture = _decode(_open_image(data, param="image"), param="image").convert("RGB")
    picture.thumbnail((REFERENCE_MAX_SIDE, REFERENCE_MAX_SIDE), PILImage.Resampling.LANCZOS)
    return picture


def upload_validate(
    *,
    image_bytes: bytes | None,
    mask_bytes: bytes | None = None,
    needs_alpha: bool,
    reference_bytes: tuple[bytes, ...] = (),
) -> ValidatedUpload:
    """`needs_alpha`: an edit without a mask, whose transparent area is the area to repaint.
    `reference_bytes`: the images sent after the first (a list of `image`)."""
    picture = _open_image(image_bytes, param="image")
    mask_picture = _open_image(mask_bytes, param="mask") if mask_bytes else None
    if mask_picture is not None and mask_picture.size != picture.size:
        raise InvalidRequest(
            "Invalid input mask - image and mask must be the same size: image is "
            f"{picture.width}x{picture.height}, "
            f"mask is {mask_picture.width}x{mask_picture.height}.",
            param="mask",
        )
    image = _decode(picture, param="image")
    mask = _decode(mask_picture, param="mask") if mask_picture is not None else None
    if needs_alpha and mask is None and not image.info["easel_had_alpha"]:
        raise InvalidRequest(
            f"Invalid input image - format must be in ['RGBA', 'LA', 'L'], got {picture.mode}. "
            "An edit without a mask repaints the image's transparent area, so it needs one.",
            param="image",
        )
    if mask is not None and not mask.info["easel_had_alpha"]:
        raise InvalidRequest(
            "Invalid input mask - the mask needs transparency: its fully transparent area "
            "is what gets repainted.",
            param="mask",
        )
    references = tuple(_reference(data) for data in reference_bytes)
    return ValidatedUpload(image=image, mask=mask, references=references)


def png_bytes(image: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def upload_bytes(upload: Any) -> bytes | None:
    """An uploaded file's bytes (from the start, however much was read before), or None."""
    if upload is None:
        return None
    upload.seek(0)
    return upload.read()
