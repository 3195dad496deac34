"""Where images live: django-storages' default storage (a local folder, or S3 in production).

Keys are fixed per generation and image index, so a rerun of a job overwrites its files rather
than adding copies. Nothing here is public: images are reached only through signed URLs that
expire (S3 presigned URLs, or the signed local view in generation/views.py).
"""

import time
import uuid

from django.conf import settings
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.urls import reverse
from storages.backends.s3 import S3Storage

from common.site import site_url

_SIGNING_SALT = "easel.media"
QUARANTINE_PREFIX = "quarantine/"


def storage() -> Storage:
    return storages["default"]


def image_key(*, generation_id: uuid.UUID | str, index: int, extension: str = "png") -> str:
    """`extension`: the job's output format (png, jpeg, webp)."""
    return f"generations/{generation_id}/{index}.{extension}"


def quarantine_key(*, key: str) -> str:
    """Where the staff-only copy of the file at `key` is kept (generation.services.quarantine).
    No URL is ever signed for a key under this prefix, and the signed view refuses one."""
    return f"{QUARANTINE_PREFIX}{key}"


def is_quarantine_key(key: str) -> bool:
    return key.startswith(QUARANTINE_PREFIX)


def upload_key(*, generation_id: uuid.UUID | str, kind: str) -> str:
    """The uploaded image ("image"), mask ("mask") or reference ("reference-0", ...) of an edit
    or a variation."""
    return f"uploads/{generation_id}/{kind}.png"


def storage_write(*, key: str, content: bytes) -> str:
    """Writes `content` at exactly `key`, replacing what was there."""
    backend = storage()
    # The local backend would pick a new name beside an existing file: delete first.
    if backend.exists(key):
        backend.delete(key)
    saved = backend.save(key, ContentFile(content))
    if saved != key:  # a backend that renamed would break "a rerun overwrites"
        backend.delete(saved)
        raise RuntimeError(f"storage saved {key!r} as {saved!r}")
    return key


def storage_read(*, key: str) -> bytes:
    with storage().open(key, "rb") as handle:
        return handle.read()


def storage_delete(*, key: str) -> None:
    if key and storage().exists(key):
        storage().delete(key)


def signed_url(*, key: str, expires_in: int | None = None) -> str:
    """An address that serves `key` until it expires (default EASEL_IMAGE_URL_EXPIRES, 1 hour)."""
    if is_quarantine_key(key):
        raise ValueError("Quarantined images are staff-only: no URL is signed for them.")
    expires_in = expires_in or settings.EASEL_IMAGE_URL_EXPIRES
    backend = storage()
    if isinstance(backend, S3Storage):
        # S3 answers with this Cache-Control, so a copy outlives a take-down only so long.
        cache = f"private, max-age={settings.EASEL_MEDIA_CACHE_SECONDS}"
        return backend.url(key, parameters={"ResponseCacheControl": cache}, expire=expires_in)
    token = signing.dumps({"k": key, "e": int(time.time()) + expires_in}, salt=_SIGNING_SALT)
    return site_url(reverse("generation-media-signed", args=[token]))


def signed_key_load(*, token: str) -> str | None:
    """The key a signed local URL names, or None when it is forged or expired."""
    try:
        payload = signing.loads(token, salt=_SIGNING_SALT)
    except signing.BadSignature:
        return None
    if int(payload.get("e", 0)) < time.time():
        return None
    return str(payload["k"])
