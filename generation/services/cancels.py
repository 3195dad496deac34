"""Cancel requests, told to the worker running the job through the cache (Redis when REDIS_URL is
set, else the file cache every local process shares), so the per-step check costs no database
query. `Generation.cancel_requested` stays the record: the worker also reads it with its
once-a-second heartbeat, so a flag the cache lost still stops the job within a second (one done
sooner is settled canceled, uncharged, when its delivery reads the record)."""

import uuid
from collections.abc import Iterable

from django.core.cache import cache

CANCEL_TTL_SECONDS = 24 * 3600


def _key(generation_id: uuid.UUID | str) -> str:
    return f"generation:cancel:{generation_id}"


def cancel_flags_set(*, generation_ids: Iterable[uuid.UUID | str]) -> None:
    cache.set_many({_key(pk): True for pk in generation_ids}, CANCEL_TTL_SECONDS)


def cancel_flags(*, generation_ids: Iterable[uuid.UUID | str]) -> set[str]:
    """The ids (as strings) among `generation_ids` whose cancel was requested."""
    keys = {_key(pk): str(pk) for pk in generation_ids}
    return {keys[key] for key in cache.get_many(list(keys))}
