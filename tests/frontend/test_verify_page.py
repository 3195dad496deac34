"""/verify: anyone drops an image and learns whether Easel made it; only its owner, signed in,
learns which of their images it is (tests/e2e/test_verify.py drives it in Chromium)."""

import io
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image as PILImage

from generation.provenance.credentials import credentials_sign
from generation.provenance.marks import image_mark
from tests.factories import GenerationFactory, ImageFactory, UserFactory

pytestmark = pytest.mark.django_db
PROMPT = "a private prompt about a red kite"


@pytest.fixture
def delivered(user):  # type: ignore[no-untyped-def]
    from skimage import data

    generation = GenerationFactory(user=user, source="web", prompt=PROMPT, steps=1)
    image = ImageFactory(generation=generation)
    picture = PILImage.fromarray(data.coffee()).resize((512, 512))
    marked = image_mark(
        picture, model=generation.model, seed=1, generation_id=generation.pk, image_id=image.pk
    )
    data_bytes = credentials_sign(
        marked,
        "image/png",
        image_id=image.pk,
        model=generation.model,
        operation="generate",
        created_at=image.created_at,
    )
    return image, data_bytes


def upload(client, data: bytes, name: str = "image.png"):  # type: ignore[no-untyped-def]
    return client.post("/verify", {"image": SimpleUploadedFile(name, data)})


def test_the_page_is_open_to_anyone_and_linked_from_every_page(client):
    page = client.get("/verify")
    assert page.status_code == 200 and "Was this image made with Easel?" in page.content.decode()
    assert 'href="/verify"' in client.get("/").content.decode()


def test_a_stranger_learns_easel_made_it_but_not_whose(client, delivered):
    image, data = delivered
    body = upload(client, data).content.decode()
    assert "Easel made this image." in body and "content credentials" in body
    assert image.generation.model in body
    for private in (PROMPT, str(image.pk), str(image.generation_id), image.generation.user.email):
        assert private not in body
    assert "one of your images" not in body


def test_the_owner_learns_which_image_even_from_a_jpeg_copy(client, delivered):
    image, data = delivered
    copy = io.BytesIO()
    PILImage.open(io.BytesIO(data)).convert("RGB").save(copy, format="JPEG", quality=75)
    client.force_login(image.generation.user)
    body = upload(client, copy.getvalue(), "copy.jpg").content.decode()
    assert "Easel made this image." in body and "invisible watermark" in body
    assert f'href="/i/{image.pk}/"' in body
    client.force_login(UserFactory())
    assert f"/i/{image.pk}/" not in upload(client, copy.getvalue()).content.decode()


def test_an_image_easel_did_not_make(client):
    plain = io.BytesIO()
    PILImage.new("RGB", (300, 300), (20, 90, 160)).save(plain, format="PNG")
    response = upload(client, plain.getvalue())
    assert response.status_code == 200
    assert "Easel's marks are not in this image." in response.content.decode()


def test_a_file_that_is_not_an_image_gets_a_clear_error(client):
    response = upload(client, b"%PDF-1.7 not an image", "paper.pdf")
    assert response.status_code == 400
    assert "could not be read as an image" in response.content.decode()


def test_too_many_checks_from_one_address_are_refused(client, settings):
    settings.EASEL_PROVENANCE_CHECKS_PER_MINUTE = 1
    address = "2001:db8:{:x}:{:x}::9".format(*divmod(uuid.uuid4().int % 2**32, 2**16))
    plain = io.BytesIO()
    PILImage.new("RGB", (200, 200)).save(plain, format="PNG")
    first = client.post(
        "/verify", {"image": SimpleUploadedFile("a.png", plain.getvalue())}, REMOTE_ADDR=address
    )
    assert first.status_code == 200
    again = client.post(
        "/verify", {"image": SimpleUploadedFile("a.png", plain.getvalue())}, REMOTE_ADDR=address
    )
    assert again.status_code == 429 and "Too many provenance checks" in again.content.decode()
