"""The Redis cache's connections: one pool per process, not one per request.

Django keeps its cache backends per async context (`django.core.cache.caches` is a
context-local), and each RedisCache opens pools of its own: under ASGI every request got a new
backend, so its first cache call opened a new Redis connection (TCP connect, then HELLO, CLIENT
SETINFO and SELECT: six round trips) and dropped it afterwards. One OpenAI-style request makes
such a call as it admits its job (the queued state, generation/services/progress.py). Every
backend of the process now draws from one pool per URL and options; redis-py's pool is
thread-safe and opens fresh connections in a forked child.
"""

import threading
from typing import Any

import redis

_pools: dict[str, redis.ConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    """What RedisCache's `pool_class` option names (config/settings/base.py)."""

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> redis.ConnectionPool:  # type: ignore[override]
        key = repr((url, sorted(kwargs.items())))
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = super().from_url(url, **kwargs)
            return pool
