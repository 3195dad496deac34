"""What marks an image as Easel's: a visible signature, an invisible watermark, PNG metadata.

The invisible watermark carries the image id (a UUID, 128 bits) and a 32-bit keyed tag (an HMAC
of the id), 160 bits in all. It lives in the luminance channel, in the 8x8 DCT blocks JPEG itself
uses: each block carries one bit, as the sign of the difference between two mid-frequency
coefficients (Koch and Zhao's scheme), pushed past a margin that JPEG's quantisation at quality
85 does not undo. Which blocks carry which bit, which coefficient pair and a sign flip are all
drawn from EASEL_WATERMARK_KEY, so the pattern cannot be read or forged without the key. A
decoded id counts only when its tag verifies: a random image passes with odds of 1 in 2**32.
Only luminance changes (the same amount is added to R, G and B), so JPEG's colour subsampling
does not touch it.
"""

import hashlib
import hmac
import uuid
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from PIL import Image as PILImage
from PIL import ImageDraw
from PIL.PngImagePlugin import PngInfo
from scipy.fft import dctn, idctn

BLOCK = 8
TAG_BITS = 32
PAYLOAD_BITS = 128 + TAG_BITS
# Coefficient pairs in the mid frequencies: they survive JPEG q85 and are barely visible.
_PAIRS = (((2, 3), (3, 2)), ((1, 4), (4, 1)), ((2, 4), (4, 2)), ((3, 1), (1, 3)))
MARGIN = 14.0
# DALL-E 2's signature colours, left to right.
SIGNATURE_COLOURS = ((255, 255, 102), (66, 255, 255), (81, 218, 76), (255, 110, 60), (60, 70, 255))


@dataclass(frozen=True)
class WatermarkReading:
    image_id: uuid.UUID | None  # None: no valid Easel watermark
    confidence: float  # mean |coefficient difference| / MARGIN over the payload's blocks


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


def _key() -> bytes:
    return settings.EASEL_WATERMARK_KEY.encode()


def _tag(image_id: uuid.UUID) -> int:
    digest = hmac.new(_key(), b"easel-watermark:" + image_id.bytes, hashlib.sha256).digest()
    return int.from_bytes(digest[: TAG_BITS // 8], "big")


def _payload_bits(image_id: uuid.UUID) -> np.ndarray:
    value = (image_id.int << TAG_BITS) | _tag(image_id)
    return np.array([(value >> (PAYLOAD_BITS - 1 - i)) & 1 for i in range(PAYLOAD_BITS)], np.int8)


def _layout(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every block: the bit it carries (-1: none), its coefficient pair, its sign flip."""
    blocks = rows * cols
    seed = int.from_bytes(hashlib.sha256(_key() + f":{rows}x{cols}".encode()).digest()[:8], "big")
    random = np.random.default_rng(seed)
    per_bit = blocks // PAYLOAD_BITS
    assignment = np.full(blocks, -1, dtype=np.int64)
    order = random.permutation(blocks)
    assignment[order[: per_bit * PAYLOAD_BITS]] = np.repeat(np.arange(PAYLOAD_BITS), per_bit)
    pairs = random.integers(0, len(_PAIRS), size=blocks)
    flips = random.integers(0, 2, size=blocks).astype(np.int8)
    return assignment, pairs, flips


def _luma(rgb: np.ndarray) -> np.ndarray:
    return 0.299 * rgb[:, :, 0] + 0.587 * rgb[:, :, 1] + 0.114 * rgb[:, :, 2]


def _blocks_dct(luma: np.ndarray) -> np.ndarray:
    rows, cols = luma.shape[0] // BLOCK, luma.shape[1] // BLOCK
    tiles = luma[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK).swapaxes(1, 2)
    return dctn(tiles.reshape(-1, BLOCK, BLOCK), axes=(1, 2), norm="ortho")


def _differences(coefficients: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    index = np.arange(len(coefficients))
    first = np.array([_PAIRS[p][0] for p in pairs])
    second = np.array([_PAIRS[p][1] for p in pairs])
    return (
        coefficients[index, first[:, 0], first[:, 1]]
        - coefficients[index, second[:, 0], second[:, 1]]
    )


def _embed_once(rgb: np.ndarray, image_id: uuid.UUID) -> np.ndarray:
    rows, cols = rgb.shape[0] // BLOCK, rgb.shape[1] // BLOCK
    assignment, pairs, flips = _layout(rows, cols)
    bits = _payload_bits(image_id)
    luma = _luma(rgb)
    coefficients = _blocks_dct(luma)
    original = coefficients.copy()
    carrying = np.nonzero(assignment >= 0)[0]
    # +1 means "first coefficient above the second by MARGIN"; the key's flip scrambles it.
    wanted = np.where((bits[assignment[carrying]] ^ flips[carrying]) == 1, 1.0, -1.0)
    difference = _differences(coefficients[carrying], pairs[carrying])
    shortfall = np.maximum(0.0, MARGIN - wanted * difference)  # only push blocks not yet there
    for offset, block in enumerate(carrying):
        (a_row, a_col), (b_row, b_col) = _PAIRS[pairs[block]]
        coefficients[block, a_row, a_col] += wanted[offset] * shortfall[offset] / 2
        coefficients[block, b_row, b_col] -= wanted[offset] * shortfall[offset] / 2
    delta_tiles = idctn(coefficients - original, axes=(1, 2), norm="ortho")
    delta = delta_tiles.reshape(rows, cols, BLOCK, BLOCK).swapaxes(1, 2).reshape(rows * BLOCK, -1)
    marked = rgb.copy()
    marked[: rows * BLOCK, : cols * BLOCK] += delta[:, :, None]
    return np.clip(np.rint(marked), 0, 255)


def watermark_embed(image: PILImage.Image, *, image_id: uuid.UUID) -> PILImage.Image:
    """The image with the id hidden in it. Twice: the second pass repairs what clipping undid."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    if rgb.shape[0] // BLOCK * (rgb.shape[1] // BLOCK) < PAYLOAD_BITS:
        raise ValueError("image too small to carry a watermark")
    for _ in range(2):
        rgb = _embed_once(rgb, image_id)
    return PILImage.fromarray(rgb.astype(np.uint8), mode="RGB")


def watermark_read(image: PILImage.Image) -> WatermarkReading:
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
    rows, cols = rgb.shape[0] // BLOCK, rgb.shape[1] // BLOCK
    if rows * cols < PAYLOAD_BITS:
        return WatermarkReading(image_id=None, confidence=0.0)
    assignment, pairs, flips = _layout(rows, cols)
    carrying = np.nonzero(assignment >= 0)[0]
    difference = _differences(_blocks_dct(_luma(rgb))[carrying], pairs[carrying])
    # Undo the key's sign flip, then let every block of a bit vote with its strength.
    votes = np.where(flips[carrying] == 1, -difference, difference)
    sums = np.bincount(assignment[carrying], weights=votes, minlength=PAYLOAD_BITS)
    bits = (sums > 0).astype(np.int64)
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    image_id = uuid.UUID(int=value >> TAG_BITS)
    confidence = float(np.mean(np.abs(votes)) / MARGIN)
    if value & ((1 << TAG_BITS) - 1) != _tag(image_id):
        return WatermarkReading(image_id=None, confidence=confidence)
    return WatermarkReading(image_id=image_id, confidence=confidence)


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
    """The delivered PNG: signature, then watermark (so it covers the corner too), metadata."""
    import io

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
