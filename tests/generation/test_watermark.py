"""The visible signature, the invisible watermark (through JPEG q85), metadata, provenance_check."""

import io
import uuid

import numpy as np
import pytest
from PIL import Image as PILImage

from common.errors import InvalidRequest
from generation.services.provenance import provenance_check
from generation.watermark import SIGNATURE_COLOURS, image_mark, watermark_embed, watermark_read
from tests.factories import GenerationFactory, ImageFactory
from tests.generation.conftest import picture_with_hole


def photo(side: int = 256) -> PILImage.Image:
    from skimage import data

    return PILImage.fromarray(data.astronaut()).resize((side, side))


def jpeg(picture: PILImage.Image, quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


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


@pytest.mark.parametrize("side", [256, 512, 1024])
def test_the_watermark_carries_the_id_through_a_jpeg_resave_at_85(side):
    image_id = uuid.uuid4()
    marked = watermark_embed(photo(side), image_id=image_id)
    difference = np.asarray(marked, float) - np.asarray(photo(side).convert("RGB"), float)
    assert 10 * np.log10(255**2 / np.mean(difference**2)) > 38  # PSNR: invisible to the eye
    assert watermark_read(marked).image_id == image_id
    assert watermark_read(PILImage.open(io.BytesIO(jpeg(marked)))).image_id == image_id


def test_unmarked_and_other_key_images_carry_nothing(settings):
    assert watermark_read(photo()).image_id is None
    assert watermark_read(picture_with_hole(256)).image_id is None
    marked = watermark_embed(photo(), image_id=uuid.uuid4())
    settings.EASEL_WATERMARK_KEY = "another deployment's key"
    assert watermark_read(marked).image_id is None


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


@pytest.mark.django_db
def test_provenance_check_names_the_image_even_after_jpeg(user):
    generation = GenerationFactory(user=user, source="web", prompt="p", steps=1)
    image = ImageFactory(generation=generation)
    png = image_mark(
        photo(), model="easel/tiny", seed=1, generation_id=generation.pk, image_id=image.pk
    )
    for data in (png, jpeg(PILImage.open(io.BytesIO(png)))):
        result = provenance_check(image_bytes=data)
        assert result.made_by_easel and result.image_id == image.pk
        assert result.generation_id == generation.pk
    assert provenance_check(image_bytes=png).metadata["easel:image_id"] == str(image.pk)

    # Metadata alone proves nothing: a forged claim on an unmarked image is not Easel's.
    forged = io.BytesIO()
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("easel:image_id", str(image.pk))
    photo().save(forged, format="PNG", pnginfo=info)
    assert provenance_check(image_bytes=forged.getvalue()).made_by_easel is False


@pytest.mark.django_db
def test_provenance_check_refuses_what_is_not_an_image():
    with pytest.raises(InvalidRequest) as raised:
        provenance_check(image_bytes=b"not an image at all")
    assert raised.value.param == "image"
