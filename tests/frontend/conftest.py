"""Fixtures for the web app's tests: users, staff with two-factor, stored images."""

import io
import uuid

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from generation.models import Generation, Image
from tests.factories import GenerationFactory, ImageFactory, UserFactory, staff_with_two_factor


def png_bytes(side: int = 64, colour: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (side, side), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def stored_image(
    *,
    user,  # type: ignore[no-untyped-def]
    prompt: str = "a lighthouse at dawn, watercolour",
    side: int = 256,
    status: str = Image.Status.DELIVERED,
    under_review: bool = False,
) -> Image:
    """A finished generation with one delivered image whose PNG is in storage.

    The worker's output is test data here: these tests are about pages, not the pipeline
    (tests/e2e runs the real worker and model)."""
    generation = GenerationFactory.create(
        user=user,
        source=Generation.Source.WEB,
        prompt=prompt,
        size=side,
        guidance_scale=1.0,
        seed=42,
        status=Generation.Status.SUCCEEDED,
    )
    key = ""
    if status == Image.Status.DELIVERED:
        key = default_storage.save(f"images/{generation.pk}/0.png", ContentFile(png_bytes(side)))
    return ImageFactory.create(
        generation=generation,
        seed=42,
        width=side,
        height=side,
        status=status,
        storage_key=key,
        under_review=under_review,
    )


@pytest.fixture
def other_user(db):  # type: ignore[no-untyped-def]
    return UserFactory.create()


@pytest.fixture
def user_client(client, user):  # type: ignore[no-untyped-def]
    client.force_login(user)
    return client


@pytest.fixture
def staff_user(db):  # type: ignore[no-untyped-def]
    return staff_with_two_factor()


@pytest.fixture
def staff_without_2fa(db):  # type: ignore[no-untyped-def]
    return UserFactory.create(is_staff=True)


@pytest.fixture
def staff_client(client, staff_user):  # type: ignore[no-untyped-def]
    client.force_login(staff_user)
    return client


@pytest.fixture
def image(user):  # type: ignore[no-untyped-def]
    return stored_image(user=user)


def new_uuid() -> str:
    return str(uuid.uuid4())
