"""Fixtures every app's tests share, and the rule for tests that need a real service.

Tests marked `postgres`, `redis` or `browser` skip when that service is absent on a developer's
machine, and fail instead when EASEL_REQUIRE_SERVICES=1 (what `.ci/run` sets), so CI never
passes by skipping them.
"""

import os
import shutil

import pytest
from django.conf import settings

REQUIRE_SERVICES = os.environ.get("EASEL_REQUIRE_SERVICES") == "1"
CHROMIUM = "/usr/bin/chromium"


def _missing_service(marker: str) -> str | None:
    if marker == "postgres" and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "needs PostgreSQL: set DATABASE_URL"
    if marker == "redis" and not settings.REDIS_URL:
        return "needs Redis: set REDIS_URL"
    if marker == "browser" and not shutil.which(CHROMIUM):
        return f"needs Debian's chromium at {CHROMIUM}"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in ("postgres", "redis", "browser"):
        if item.get_closest_marker(marker) is None:
            continue
        missing = _missing_service(marker)
        if missing and REQUIRE_SERVICES:
            pytest.fail(f"{missing} (EASEL_REQUIRE_SERVICES=1)")
        if missing:
            pytest.skip(missing)


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):  # type: ignore[no-untyped-def]
    """Every test writes images to its own folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": settings.MEDIA_ROOT},
        },
    }


@pytest.fixture(autouse=True)
def _clear_cache():  # type: ignore[no-untyped-def]
    """Rate-limit counters and other cached state never leak from one test into the next."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
