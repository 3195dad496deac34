"""Progress and completion of a generation, published for whoever waits on it.

Each state goes to the Redis channel `generation:<id>` (JSON: id, status, step, total and, when
settled, images) for held OpenAI-style requests, SSE streams and web pages, and the latest state is
kept in the cache so a late subscriber starts from it (selectors.jobs.generation_progress).
Without Redis (the local default) only the cache is written; listeners poll it.
"""

import json
import logging
import uuid
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

PROGRESS_TTL_SECONDS = 24 * 3600
_redis_client = None


def channel_name(*, generation_id: uuid.UUID | str) -> str:
    return f"generation:{generation_id}"


def cache_key(*, generation_id: uuid.UUID | str) -> str:
    return f"generation:progress:{generation_id}"


def _redis():  # type: ignore[no-untyped-def]
    global _redis_client
    if _redis_client is None:
        import redis

        # redis-py's pool notices a fork and reconnects, so one client per process is safe.
        _redis_client = redis.Redis.from_url(settings.REDIS_URL)
    return _redis_client


def progress_publish(
    *, generation_id: uuid.UUID | str, status: str, step: int = 0, total: int = 0, **extra: Any
) -> dict[str, Any]:
    state = {"id": str(generation_id), "status": status, "step": step, "total": total, **extra}
    cache.set(cache_key(generation_id=generation_id), state, PROGRESS_TTL_SECONDS)
    if settings.REDIS_URL:
        try:
            _redis().publish(channel_name(generation_id=generation_id), json.dumps(state))
        except Exception:  # a lost notification must not fail the job: the cache has it
            logger.warning("progress publish failed for %s", generation_id, exc_info=True)
    return state
