"""Helpers for the API tests: customers with keys and credits, PNG files good and bad, and what
"nothing charged or stored" means, checked against the real tables and the media folder."""

import io
import os
import struct
import zlib
from dataclasses import dataclass

from PIL import Image as PILImage

from accounts.models import ApiKey, Tier, User
from accounts.services.api_keys import ALL_SCOPES, api_key_create
from generation.models import Generation, IdempotencyRecord
from tests.factories import UserFactory, ensure_tiers


@dataclass
class Customer:
    user: User
    key: ApiKey
    secret: str

    @property
    def auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.secret}"}


def customer(
    *, tier: str = "pro", credits: int = 100, scopes: list[str] | None = None, settings=None
) -> Customer:  # type: ignore[no-untyped-def]
    ensure_tiers()
    if settings is not None:
        settings.BILLING_SIGNUP_GRANT = credits
    user = UserFactory.create(tier=Tier.objects.get(name=tier))
    # Every scope unless a test narrows it: these customers manage webhooks and keys too.
    created = api_key_create(
        user=user, name="tests", scopes=sorted(ALL_SCOPES) if scopes is None else scopes
    )
    return Customer(user=user, key=created.key, secret=created.secret)


def balance(user: User) -> int:
    from billing.selectors import wallet_for_user

    wallet = wallet_for_user(user=user)
    return wallet.balance if wallet else 0


def media_files(media_root: str) -> list[str]:
    found = []
    for folder, _, names in os.walk(media_root):
        found += [os.path.join(folder, name) for name in names]
    return found


def assert_nothing_charged_or_stored(*, user: User, credits_before: int, media_root: str) -> None:
    assert Generation.objects.filter(user=user).count() == 0
    assert IdempotencyRecord.objects.filter(user=user).count() == 0
    assert balance(user) == credits_before
    assert media_files(media_root) == []


# --- Image files -------------------------------------------------------------------------------


def png_bytes(side: int = 64, *, mode: str = "RGBA", height: int | None = None) -> bytes:
    picture = PILImage.new(
        mode, (side, height or side), color=(10, 120, 200, 0) if mode == "RGBA" else (10, 120, 200)
    )
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def rgba_with_transparent_square(side: int = 64) -> bytes:
    picture = PILImage.new("RGBA", (side, side), (200, 30, 30, 255))
    for x in range(side // 4, side // 2):
        for y in range(side // 4, side // 2):
            picture.putpixel((x, y), (0, 0, 0, 0))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(side: int = 64) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (side, side), (1, 2, 3)).save(buffer, format="JPEG")
    return buffer.getvalue()


def gif_bytes(side: int = 64) -> bytes:
    """A format uploads do not take (PNG, JPEG and WebP are)."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (side, side), (1, 2, 3)).save(buffer, format="GIF")
    return buffer.getvalue()


def oversized_png() -> bytes:
    """A genuine PNG just over the 20 MB upload limit: random pixels do not compress."""
    side = 2300
    picture = PILImage.frombytes("RGBA", (side, side), os.urandom(side * side * 4))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=0)
    data = buffer.getvalue()
    assert len(data) > 20 * 1024 * 1024
    return data


def truncated_png() -> bytes:
    data = rgba_with_transparent_square(128)
    return data[: len(data) // 2]


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def decompression_bomb_png(side: int = 100_000) -> bytes:
    """A few hundred bytes claiming a 100,000 x 100,000 canvas: 40 GB once decoded."""
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (side * 4 + 1) * 2, 9)  # the start of the pixel stream
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", rows)
        + _chunk(b"IEND", b"")
    )


def upload(name: str, data: bytes, content_type: str = "image/png"):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type=content_type)
