"""Absolute addresses on Easel's public site (settings.SITE_URL), for e-mails, APIs and pages."""

from django.conf import settings


def site_url(path: str = "") -> str:
    """`path` (starting with "/") on the public site; the site's base address when empty."""
    return settings.SITE_URL.rstrip("/") + path
