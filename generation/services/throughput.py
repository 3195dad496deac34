"""Images per second, measured by each GPU worker and summed for the queue estimates.

Each worker child publishes its own smoothed rate under its identity after every pipeline call;
the fleet's rate is the sum of the rates published in the last RATE_FRESH_SECONDS (a worker that
stopped drops out). One cache entry holds them all, so a reader needs no key listing: a write
races another worker's only by losing that worker's latest figure, which its next batch puts
back. In the cache: Redis when REDIS_URL is set, else the file cache every local process shares.
"""

import time

from django.core.cache import cache

THROUGHPUT_CACHE_KEY = "generation:throughput:workers"  # {worker id: (images/s, published at)}
RATE_FRESH_SECONDS = 600
_SMOOTHING = 0.2  # the weight of the newest batch


def throughput_publish(*, worker_id: str, images: int, seconds: float) -> float:
    """Folds one batch into this worker's rate and publishes it; returns the new rate."""
    measured = images / max(seconds, 1e-6)
    now = time.time()
    rates = _fresh(cache.get(THROUGHPUT_CACHE_KEY) or {}, now=now)
    previous = rates.get(worker_id)
    rate = measured if previous is None else (1 - _SMOOTHING) * previous[0] + _SMOOTHING * measured
    rates[worker_id] = (rate, now)
    cache.set(THROUGHPUT_CACHE_KEY, rates, 24 * 3600)
    return rate


def throughput_fleet() -> float | None:
    """The images per second all GPU workers together make; None before any has measured."""
    rates = _fresh(cache.get(THROUGHPUT_CACHE_KEY) or {}, now=time.time())
    return sum(rate for rate, _ in rates.values()) or None


def _fresh(rates: dict, *, now: float) -> dict:
    return {
        worker: (rate, at) for worker, (rate, at) in rates.items() if now - at < RATE_FRESH_SECONDS
    }
