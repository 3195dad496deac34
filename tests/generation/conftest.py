"""Fixtures for generation's tests: users with credits, PNG uploads, the tiny model offline."""

import io

import numpy as np
import pytest
from PIL import Image as PILImage


@pytest.fixture(autouse=True)
def _offline_models(monkeypatch):  # type: ignore[no-untyped-def]
    """Nothing may download weights in tests: the tiny model is built from configs."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def request_thread(settings):  # type: ignore[no-untyped-def]
    """The async views' database work runs on the request thread (see generation.api.asyncviews),
    so it sees the test's transaction and CaptureQueriesContext sees every query. Asked for by
    the API test modules; test_openai_client.py keeps production's shared pool."""
    settings.EASEL_API_SHARED_THREAD_POOL = False


@pytest.fixture
def pro(settings):  # type: ignore[no-untyped-def]
    """A Pro customer with an API key and 100 credits."""
    from tests.generation.api_helpers import customer

    return customer(tier="pro", credits=100, settings=settings)


@pytest.fixture
def http():  # type: ignore[no-untyped-def]
    from django.test import Client

    return Client()


def png(picture: PILImage.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def picture_with_hole(
    side: int = 256, *, hole: tuple[int, int, int, int] | None = None
) -> PILImage.Image:
    """A textured opaque RGBA square; `hole` (x0, y0, x1, y1) is made fully transparent."""
    random = np.random.default_rng(7)
    pixels = np.zeros((side, side, 4), dtype=np.uint8)
    pixels[:, :, :3] = random.integers(0, 255, (side, side, 3))
    pixels[: side // 2, :, 0] = 230  # some composition: a red top half
    pixels[:, :, 3] = 255
    if hole is not None:
        x0, y0, x1, y1 = hole
        pixels[y0:y1, x0:x1, 3] = 0
    return PILImage.fromarray(pixels, mode="RGBA")
