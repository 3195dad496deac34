"""Copies of an image already handed out: how long caches may keep them, and purging a CDN.

A take-down (or the owner's delete, or sharing turned off) stops Easel serving an image at
once. Copies cached on the way reach people until they expire, so every image response says
how long that may be: `max-age` EASEL_MEDIA_CACHE_SECONDS (5 minutes unless set). A CDN in
front is told to drop its copies at once: each image response carries a tag naming its file
(`Cache-Tag`, `Surrogate-Key`), and the purger is called with the tag and the public URLs.
Browsers' own caches are the only copies left, for at most EASEL_MEDIA_CACHE_SECONDS.

The purger is `EASEL_CDN_PURGER` (any object with `purge(*, urls, tags)`, set in a settings
module), or, with no code, an HTTP POST of `{"urls": [...], "tags": [...]}` to
EASEL_CDN_PURGE_URL. It runs in a Celery task after the take-down commits, retried when the
CDN does not answer.
"""

import hashlib
import logging
from typing import Protocol

import httpx
from django.conf import settings
from django.db import transaction
from django.http.response import HttpResponseBase
from django.urls import reverse

from common.site import site_url
from generation.tasks import cdn_purge

logger = logging.getLogger(__name__)


class CdnPurger(Protocol):
    def purge(self, *, urls: list[str], tags: list[str]) -> None:
        """Drops the cached responses for `urls` and those tagged with any of `tags`; raises
        when the CDN refused or did not answer (the task retries)."""


class HttpCdnPurger:
    """POSTs `{"urls": [...], "tags": [...]}` with a bearer token: the shape a CDN's purge API
    or a small adapter in front of one accepts."""

    def __init__(self, *, endpoint: str, token: str = "", timeout: float = 10.0) -> None:
        self.endpoint, self.token, self.timeout = endpoint, token, timeout

    def purge(self, *, urls: list[str], tags: list[str]) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        response = httpx.post(
            self.endpoint,
            json={"urls": urls, "tags": tags},
            headers=headers,
            timeout=self.timeout,
        )
        response.raise_for_status()


def cdn_purger() -> CdnPurger | None:
    if settings.EASEL_CDN_PURGER is not None:
        purger: CdnPurger = settings.EASEL_CDN_PURGER
        return purger
    if settings.EASEL_CDN_PURGE_URL:
        return HttpCdnPurger(
            endpoint=settings.EASEL_CDN_PURGE_URL, token=settings.EASEL_CDN_PURGE_TOKEN
        )
    return None


def media_cache_tag(*, storage_key: str) -> str:
    """The tag of every response serving this file (a hash: keys hold slashes)."""
    return "easel-media-" + hashlib.sha256(storage_key.encode()).hexdigest()[:24]


def media_cache_headers(response: HttpResponseBase, *, storage_key: str, private: bool) -> None:
    """How long caches may keep an image response, and the tag a purge names it by."""
    seconds = settings.EASEL_MEDIA_CACHE_SECONDS
    response["Cache-Control"] = f"{'private' if private else 'public'}, max-age={seconds}"
    response["Cache-Tag"] = response["Surrogate-Key"] = media_cache_tag(storage_key=storage_key)


def share_urls(*, slug: str) -> list[str]:
    """Every public address a share link hands out."""
    page = site_url(reverse("frontend:share", args=[slug]))
    image = site_url(reverse("frontend:share_image", args=[slug]))
    return [page, image, f"{image}?download=1"]


def media_copies_purge(*, storage_keys: list[str], share_slugs: list[str]) -> None:
    """Once the surrounding transaction commits, asks the CDN to drop its copies of these files
    and share links. Does nothing when no CDN is configured."""
    if cdn_purger() is None:
        return
    urls = [url for slug in share_slugs for url in share_urls(slug=slug)]
    tags = [media_cache_tag(storage_key=key) for key in storage_keys if key]
    if urls or tags:
        transaction.on_commit(lambda: cdn_purge.delay(urls=urls, tags=tags))


def cdn_purge_now(*, urls: list[str], tags: list[str]) -> None:
    purger = cdn_purger()
    if purger is not None:
        purger.purge(urls=urls, tags=tags)
        logger.info("cdn purged", extra={"urls": len(urls), "tags": len(tags)})
