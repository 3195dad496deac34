"""Per-tier rate limits, counted where every web process sees the same numbers.

The algorithm is GCRA, a token bucket kept as one number per bucket: the "theoretical arrival
time" (TAT) at which the bucket would be full again. A tier allowing `limit` per minute refills
one unit every `60 s / limit` and holds at most `limit`, so a quiet user may burst a full
minute's worth at once and then continues at the steady rate; nothing resets at a minute
boundary, so there is no double burst across it (the flaw of fixed windows).

With Redis (REDIS_URL) both buckets are checked and charged in one Lua script, using Redis's
own clock, so concurrent requests in many processes on many machines never overspend. Without
Redis the same arithmetic runs on the Django cache under a file lock, which is exact for the
processes of one machine (the local `make run`).

Limits are per account, like OpenAI's per-organisation limits: making more keys buys nothing.
"""

import fcntl
import ipaddress
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache as memoise

import redis
from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from accounts.models import ApiKey, User
from common.errors import RateLimitExceeded

logger = logging.getLogger(__name__)

PERIOD_MS = 60_000  # limits are per minute
KEY_PREFIX = "easel:ratelimit"
# Waiting for a slot is out of our hands (jobs finish when they finish): suggest a short pause.
CONCURRENT_JOBS_RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True)
class BucketState:
    name: str  # "requests" or "images"
    limit: int
    remaining: int
    reset_ms: int  # until the bucket is full again


@dataclass(frozen=True)
class RateLimitState:
    requests: BucketState
    images: BucketState
    retry_after_ms: int = 0  # > 0 only when the call was refused

    def headers(self) -> dict[str, str]:
        """OpenAI's x-ratelimit-* headers, for requests and (Easel's own) images."""
        headers: dict[str, str] = {}
        for bucket in (self.requests, self.images):
            headers[f"x-ratelimit-limit-{bucket.name}"] = str(bucket.limit)
            headers[f"x-ratelimit-remaining-{bucket.name}"] = str(bucket.remaining)
            headers[f"x-ratelimit-reset-{bucket.name}"] = openai_duration(bucket.reset_ms)
        return headers


def openai_duration(milliseconds: float) -> str:
    """OpenAI's (Go's) duration text: "250ms", "1s", "1.5s", "6m0s", "1h2m3s"."""
    ms = max(0, math.ceil(milliseconds))
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


@dataclass(frozen=True)
class _Bucket:
    key: str
    name: str
    limit: int
    cost: int


def rate_limit_consume(
    *, user: User, api_key: ApiKey | None, requests: int = 1, images: int = 0
) -> RateLimitState:
    """Charges one request (and `images` images) to the user's per-minute limits.

    Raises RateLimitExceeded (429, retry-after and x-ratelimit-* headers) and charges nothing
    when either bucket lacks room. `api_key` only labels the log line: limits are per account.
    """
    tier = user.tier
    buckets = [
        _Bucket(_bucket_key(user.pk, "requests"), "requests", tier.requests_per_minute, requests),
        _Bucket(_bucket_key(user.pk, "images"), "images", tier.images_per_minute, images),
    ]
    for bucket in buckets:
        if bucket.cost > bucket.limit:
            # It could never succeed, so a retry-after would be a lie.
            raise RateLimitExceeded(
                f"This request needs {bucket.cost} {bucket.name} but the {tier.display_name} "
                f"plan allows {bucket.limit} {bucket.name} per minute. Ask for fewer."
            )
    count = _redis_gcra if settings.REDIS_URL else _locked_cache_gcra
    now_ms, tats = count(buckets=buckets)
    state = _state(buckets=buckets, now_ms=now_ms, tats=tats)
    if not state.retry_after_ms:
        return state
    # The bucket that lacked room is the one whose charge would land furthest in the future.
    refused = max(
        zip(buckets, tats, strict=True), key=lambda pair: pair[1][1] - PERIOD_MS - now_ms
    )[0]
    logger.info(
        "rate limited",
        extra={
            "user_id": user.pk,
            "api_key": api_key.prefix if api_key else None,
            "bucket": refused.name,
        },
    )
    raise _exceeded(state=state, bucket=refused, tier_name=tier.display_name)


def rate_limit_peek(*, user: User) -> RateLimitState:
    """The user's buckets as they stand, charging nothing (for the headers of a 429 that the
    throttle did not raise: concurrency, quota)."""
    tier = user.tier
    buckets = [
        _Bucket(_bucket_key(user.pk, "requests"), "requests", tier.requests_per_minute, 0),
        _Bucket(_bucket_key(user.pk, "images"), "images", tier.images_per_minute, 0),
    ]
    count = _redis_gcra if settings.REDIS_URL else _locked_cache_gcra
    now_ms, tats = count(buckets=buckets)
    return _state(buckets=buckets, now_ms=now_ms, tats=tats)


def seconds_in_words(seconds: int) -> str:
    """ "in 40 seconds", "in 2 minutes": when a refused person may try again."""
    if seconds < 90:
        return f"in {seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    if minutes < 90:
        return f"in {minutes} minutes"
    hours = math.ceil(minutes / 60)
    if hours < 48:
        return f"in {hours} hours"
    return f"in {math.ceil(hours / 24)} days"


def _bucket_key(user_id: int, name: str) -> str:
    return f"{KEY_PREFIX}:{user_id}:{name}"


# Each bucket's TAT (ms since the epoch) before and after this charge.
TatPair = tuple[float, float]


def _state(*, buckets: list[_Bucket], now_ms: float, tats: list[TatPair]) -> RateLimitState:
    """The state after the call. Refused: nothing was charged, so the old TATs stand."""
    wait = max(new_tat - PERIOD_MS - now_ms for _, new_tat in tats)
    refused = wait > 0
    states = []
    for bucket, (old_tat, new_tat) in zip(buckets, tats, strict=True):
        tat = old_tat if refused else new_tat
        interval = PERIOD_MS / bucket.limit
        # 1e-9: the float TAT of a full bucket must not lose a unit to rounding.
        remaining = math.floor((now_ms + PERIOD_MS - tat) / interval + 1e-9)
        states.append(
            BucketState(
                name=bucket.name,
                limit=bucket.limit,
                remaining=max(0, min(bucket.limit, remaining)),
                reset_ms=max(0, math.ceil(tat - now_ms)),
            )
        )
    return RateLimitState(
        requests=states[0], images=states[1], retry_after_ms=math.ceil(wait) if refused else 0
    )


def _exceeded(*, state: RateLimitState, bucket: _Bucket, tier_name: str) -> RateLimitExceeded:
    retry_after_s = max(1, math.ceil(state.retry_after_ms / 1000))
    return RateLimitExceeded(
        f"Rate limit reached for {bucket.name} per minute on the {tier_name} plan "
        f"(limit: {bucket.limit}/min). Please try again in "
        f"{openai_duration(state.retry_after_ms)}.",
        headers={
            "retry-after": str(retry_after_s),
            "retry-after-ms": str(state.retry_after_ms),
            **state.headers(),
        },
        try_again=seconds_in_words(retry_after_s),
    )


# --- Redis: one atomic script ---------------------------------------------------------------

# KEYS: one per bucket. ARGV: period, then limit and cost per bucket. Returns now and, per
# bucket, the TAT before and after this charge; writes only when every bucket had room.
_GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + tonumber(clock[2]) / 1000
local period = tonumber(ARGV[1])
local result = {tostring(now)}
local new_tats = {}
local refused = false
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i])
  local cost = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or now)
  if tat < now then tat = now end
  local new_tat = tat + cost * period / limit
  if new_tat - period > now then refused = true end
  new_tats[i] = new_tat
  table.insert(result, tostring(tat))
  table.insert(result, tostring(new_tat))
end
if not refused then
  for i = 1, #KEYS do
    if tonumber(ARGV[2 * i + 1]) > 0 then
      redis.call('SET', KEYS[i], tostring(new_tats[i]), 'PX', math.ceil(new_tats[i] - now) + 1000)
    end
  end
end
return result
"""


@memoise
def _redis_client(url: str) -> "redis.Redis":
    return redis.Redis.from_url(url)


@memoise
def _redis_script(url: str):  # type: ignore[no-untyped-def]
    return _redis_client(url).register_script(_GCRA_SCRIPT)


def _redis_gcra(*, buckets: list[_Bucket]) -> tuple[float, list[TatPair]]:
    args: list[int] = [PERIOD_MS]
    for bucket in buckets:
        args += [bucket.limit, bucket.cost]
    script = _redis_script(settings.REDIS_URL)
    values = [float(v) for v in script(keys=[b.key for b in buckets], args=args)]
    return values[0], [(values[i], values[i + 1]) for i in range(1, len(values), 2)]


# --- Without Redis: the Django cache under a file lock ----------------------------------------


@contextmanager
def _machine_lock() -> Iterator[None]:
    """One lock for every process on this machine: read-check-write must not interleave."""
    settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
    with open(settings.VAR_DIR / "ratelimit.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _locked_cache_gcra(*, buckets: list[_Bucket]) -> tuple[float, list[TatPair]]:
    """The Lua script's arithmetic, line for line."""
    with _machine_lock():
        now = time.time() * 1000
        stored = cache.get_many([b.key for b in buckets])
        tats: list[TatPair] = []
        for bucket in buckets:
            tat = max(float(stored.get(bucket.key, now)), now)
            tats.append((tat, tat + bucket.cost * PERIOD_MS / bucket.limit))
        if all(new_tat - PERIOD_MS <= now for _, new_tat in tats):
            for bucket, (_, new_tat) in zip(buckets, tats, strict=True):
                if bucket.cost > 0:
                    cache.set(bucket.key, new_tat, timeout=math.ceil((new_tat - now) / 1000) + 1)
        return now, tats


# --- Concurrent jobs ----------------------------------------------------------------------------


def concurrent_jobs_check(*, user: User, lock: bool = True) -> None:
    """Raises RateLimitExceeded when the user already has as many jobs queued or running as
    their tier allows.

    Call it inside the transaction that creates the Generation: it locks the user's row until
    that transaction ends, so two requests cannot both take the last free slot. `lock=False`
    only counts: an early answer before that transaction, which settles the race itself.
    """
    Generation = apps.get_model("generation", "Generation")
    in_progress = Generation.objects.filter(
        user_id=user.pk, status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING]
    )
    if lock:
        # No savepoint: nothing inside is caught, and the caller's transaction holds the lock.
        with transaction.atomic(savepoint=False):
            User.objects.select_for_update().filter(pk=user.pk).first()
            count = in_progress.count()
    else:
        count = in_progress.count()
    limit = user.tier.concurrent_jobs
    if count >= limit:
        jobs = "job" if count == 1 else "jobs"
        raise RateLimitExceeded(
            f"You have {count} image {jobs} in progress and the {user.tier.display_name} "
            f"plan runs {limit} at a time. Wait for one to finish and try again.",
            headers={"retry-after": str(CONCURRENT_JOBS_RETRY_AFTER_SECONDS)},
            try_again=f"when one of your {count} running {jobs} finishes",
        )


# --- Limits of their own (an endpoint anyone may call) ------------------------------------------


def client_bucket_name(address: str) -> str:
    """Who an anonymous caller is for limits: their IPv4 address, or their IPv6 /64 (one host
    is handed a whole /64, so counting single IPv6 addresses would count nothing)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False).network_address) + "/64"
    return str(parsed)


def scoped_rate_limit_consume(*, scope: str, limit: int, user: User | None, address: str) -> None:
    """Charges one call to `scope`'s own per-minute limit, for the signed-in account or else
    the client address (REMOTE_ADDR, which the proxy in front sets; see README). Same GCRA
    bucket and storage as the tier limits; raises RateLimitExceeded with retry-after."""
    who = f"user:{user.pk}" if user is not None else f"address:{client_bucket_name(address)}"
    bucket = _Bucket(f"{KEY_PREFIX}:{scope}:{who}", scope, limit, 1)
    count = _redis_gcra if settings.REDIS_URL else _locked_cache_gcra
    now_ms, [(_, new_tat)] = count(buckets=[bucket])
    wait_ms = math.ceil(new_tat - PERIOD_MS - now_ms)
    if wait_ms <= 0:
        return
    logger.info("rate limited", extra={"scope": scope, "who": who})
    raise RateLimitExceeded(
        f"Too many {scope} checks: {limit} per minute are allowed. "
        f"Please try again in {openai_duration(wait_ms)}.",
        headers={"retry-after": str(max(1, math.ceil(wait_ms / 1000)))},
        try_again=seconds_in_words(max(1, math.ceil(wait_ms / 1000))),
    )
