"""The visible signature, PNG metadata, and the invisible watermark through what copies suffer:
JPEG and WebP re-saves, halving, crops, a small rotation, brightness and contrast.
bench/watermark_robustness.py measures the rates over hundreds of images; these pin the scheme."""

import io
import uuid

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import ImageEnhance

from generation.provenance.convolutional import convolutional_encode, viterbi_decode
from generation.provenance.marks import SIGNATURE_COLOURS, image_mark
from generation.provenance.watermark import (
    ID_BITS,
    MIN_SIDE,
    id_prefix,
    id_range,
    watermark_embed,
    watermark_read,
)
from tests.generation.conftest import picture_with_hole


def photo(side: int = 512, name: str = "astronaut") -> PILImage.Image:
    from skimage import data

    return PILImage.fromarray(getattr(data, name)()).convert("RGB").resize((side, side))


def resaved(picture: PILImage.Image, image_format: str, quality: int) -> PILImage.Image:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format=image_format, quality=quality)
    return PILImage.open(io.BytesIO(buffer.getvalue()))


def test_the_signature_is_five_coloured_squares_bottom_right():
    marked = PILImage.open(
        io.BytesIO(
            image_mark(
                photo(256),
                model="easel/tiny",
                seed=1,
                generation_id=uuid.uuid4(),
                image_id=uuid.uuid4(),
            )
        )
    )
    side = 4  # 256 / 64
    rgb = np.asarray(marked.convert("RGB"), dtype=int)
    for position, colour in enumerate(SIGNATURE_COLOURS):
        x = 256 - (5 - position) * side + side // 2
        assert np.abs(rgb[256 - side // 2 - 1, x] - np.array(colour)).max() <= 24


def test_png_metadata_names_model_seed_and_generation():
    generation_id, image_id = uuid.uuid4(), uuid.uuid4()
    marked = PILImage.open(
        io.BytesIO(
            image_mark(
                photo(), model="easel/tiny", seed=42, generation_id=generation_id, image_id=image_id
            )
        )
    )
    assert marked.text["easel:model"] == "easel/tiny"
    assert marked.text["easel:seed"] == "42"
    assert marked.text["easel:generation_id"] == str(generation_id)


@pytest.mark.parametrize("side", [256, 512, 1024])
def test_the_watermark_is_invisible_and_carries_the_id(side):
    image_id = uuid.uuid4()
    marked = watermark_embed(photo(side), image_id=image_id)
    difference = np.asarray(marked, float) - np.asarray(photo(side), float)
    assert 10 * np.log10(255**2 / np.mean(difference**2)) > 38  # PSNR: invisible to the eye
    assert watermark_read(marked).id_prefix == id_prefix(image_id)


def _crop(picture: PILImage.Image) -> PILImage.Image:
    width, height = picture.size
    return picture.crop(
        (width // 7, height // 11, width // 7 + width * 4 // 5, height // 11 + height * 4 // 5)
    )


COPIES = {
    "jpeg-75": lambda picture: resaved(picture, "JPEG", 75),
    "jpeg-50": lambda picture: resaved(picture, "JPEG", 50),
    "webp-80": lambda picture: resaved(picture, "WEBP", 80),
    "half-size": lambda picture: picture.resize((picture.width // 2, picture.height // 2)),
    "crop-80-percent": _crop,
    "rotated-2-degrees": lambda picture: picture.rotate(2, resample=PILImage.Resampling.BILINEAR),
    "brighter-flatter": lambda picture: ImageEnhance.Contrast(
        ImageEnhance.Brightness(picture).enhance(1.2)
    ).enhance(0.8),
}


@pytest.mark.parametrize("copy", list(COPIES))
@pytest.mark.parametrize("name", ["astronaut", "coffee"])
def test_the_watermark_survives_what_copies_suffer(copy, name):
    image_id = uuid.uuid4()
    marked = watermark_embed(photo(512, name), image_id=image_id)
    assert watermark_read(COPIES[copy](marked)).id_prefix == id_prefix(image_id)


def test_unmarked_and_other_key_images_carry_nothing(settings):
    for picture in (photo(), photo(512, "coffee"), picture_with_hole(256), photo(200)):
        assert watermark_read(picture).id_prefix is None
    marked = watermark_embed(photo(), image_id=uuid.uuid4())
    settings.EASEL_WATERMARK_KEY = "another deployment's key"
    assert watermark_read(marked).id_prefix is None


def test_tiny_images_are_refused_or_read_as_unmarked():
    with pytest.raises(ValueError):
        watermark_embed(photo(MIN_SIDE - 1), image_id=uuid.uuid4())
    assert watermark_read(photo(64)).id_prefix is None


def test_the_prefix_finds_the_id_by_a_range():
    image_id = uuid.uuid4()
    low, high = id_range(id_prefix(image_id))
    assert low <= image_id <= high
    assert low.int >> (128 - ID_BITS) == high.int >> (128 - ID_BITS) == id_prefix(image_id)


def test_the_convolutional_code_corrects_noisy_bits():
    random = np.random.default_rng(3)
    bits = [int(bit) for bit in random.integers(0, 2, 72)]
    signs = np.array(convolutional_encode(bits)) * 2.0 - 1.0
    noisy = signs + random.standard_normal(len(signs)) * 0.6
    assert int(np.sum(np.sign(noisy) != signs)) > 0  # the channel did flip some bits
    assert viterbi_decode(noisy) == bits
