"""Exactly one Celery beat: a lock in Redis that a beat holds while it schedules.

Kubernetes runs one beat replica (strategy Recreate), but a node that loses its network can
leave an old pod running while a new one starts; two beats would send every periodic task
twice. So a beat takes `easel:beat:lock` (SET NX with a TTL) before its first tick, renews it
every third of the TTL from a thread, and a second beat waits until the lock is free (the
first stopped, or stopped renewing for a whole TTL). A beat that finds its lock lost stops at
once (exit 1), and its restart waits like any second beat. Without Redis (`make run`'s embedded
defaults, one machine) there is nothing to lock against.
"""

import logging
import os
import socket
import threading
import time
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

LOCK_KEY = "easel:beat:lock"


def _client() -> Any:
    import redis

    return redis.Redis.from_url(settings.REDIS_URL)


def beat_lock_acquire(*, owner: str, ttl: int, wait: float | None = None) -> bool:
    """Blocks until this beat holds the lock (or `wait` seconds pass): True when it does."""
    client = _client()
    deadline = None if wait is None else time.monotonic() + wait
    announced = False
    while True:
        if client.set(LOCK_KEY, owner, nx=True, ex=ttl):
            logger.info("beat lock acquired by %s", owner)
            return True
        if not announced:
            holder = client.get(LOCK_KEY)
            logger.warning(
                "another beat holds the lock (%s); waiting",
                holder.decode() if holder else "?",
            )
            announced = True
        if deadline is not None and time.monotonic() > deadline:
            return False
        time.sleep(min(1.0, ttl / 3))


# Extends the TTL only while the key still names this beat (atomic in Redis).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('expire', KEYS[1], ARGV[2])
end
return 0
"""


def beat_lock_renew(*, owner: str, ttl: int) -> bool:
    return bool(_client().eval(_RENEW, 1, LOCK_KEY, owner, ttl))


def _keep_renewing(owner: str, ttl: int) -> None:
    while True:
        time.sleep(ttl / 3)
        try:
            held = beat_lock_renew(owner=owner, ttl=ttl)
        except Exception as error:  # Redis unreachable: keep trying until the TTL runs out
            logger.warning("beat lock renewal failed: %s", error)
            continue
        if not held:
            logger.error("beat lock lost (another beat holds it now): stopping this beat")
            os._exit(1)


def beat_lock_hold(sender: Any = None, **_: object) -> None:
    """The `beat_init` handler (config/celery.py): returns once this beat holds the lock."""
    if not settings.REDIS_URL:
        return
    ttl = settings.EASEL_BEAT_LOCK_TTL
    owner = f"{socket.gethostname()}:{os.getpid()}"
    beat_lock_acquire(owner=owner, ttl=ttl)
    threading.Thread(target=_keep_renewing, args=(owner, ttl), daemon=True).start()
