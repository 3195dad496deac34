"""Readiness checks: can this process do its work right now? (`/readyz` on web and workers.)

Each check answers quickly (a few seconds at most) and says what failed in words, so a pod that
is not ready explains itself in `kubectl describe` and in the probe's body.
"""

import time
from dataclasses import dataclass
from typing import Any

from django.db import connection

_BROKER_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str = ""


def summary(checks: dict[str, Check]) -> tuple[bool, dict[str, Any]]:
    """All checks pass, and the report a probe answers with."""
    ok = all(check.ok for check in checks.values())
    return ok, {
        "status": "ready" if ok else "not ready",
        "checks": {
            name: {"ok": check.ok, **({"detail": check.detail} if check.detail else {})}
            for name, check in checks.items()
        },
    }


def database_ready() -> Check:
    """A round trip to the database (and the connection closed again: probes run on their own
    threads, and a connection per probe thread left open would pile up)."""
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:
        return Check(ok=False, detail=f"{type(error).__name__}: {error}")
    finally:
        connection.close()
    return Check(ok=True, detail=f"{(time.monotonic() - started) * 1000:.0f} ms")


def broker_ready() -> Check:
    """A connection to the Celery broker (Redis or RabbitMQ), opened and used."""
    from config.celery import app  # cycle: config.celery loads common at its start

    started = time.monotonic()
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=_BROKER_TIMEOUT_SECONDS)
            client = getattr(broker.default_channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                client.ping()  # Redis: the transport connects lazily, so ask it something
    except Exception as error:
        return Check(ok=False, detail=f"{type(error).__name__}: {error}")
    return Check(ok=True, detail=f"{(time.monotonic() - started) * 1000:.0f} ms")


def prompt_screening_ready() -> Check:
    """The prompt screen can answer without loading anything first (moderation's own flag:
    the web's entry points start that load as the process starts)."""
    from moderation.services.screening import prompt_screen_ready  # common loads before apps

    if prompt_screen_ready():
        return Check(ok=True)
    return Check(ok=False, detail="the prompt-screening model is still loading")


def image_screening_ready() -> Check:
    """The image screen (uploads, outputs) can answer without loading a model first."""
    from moderation.services.image_screening import image_screen_ready

    if image_screen_ready():
        return Check(ok=True)
    return Check(ok=False, detail="the image-screening models are still loading")
