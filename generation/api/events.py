"""Waiting for a generation without a thread: Redis pub/sub on `generation:<id>`.

The GPU worker publishes a JSON message (`status`, `step`, `total`) on the channel
`generation:<id>` at every progress step and when the job ends (docs/contracts.md). A held
OpenAI-style request and an SSE stream both wait here, on the event loop.

One web process keeps ONE pub/sub connection per event loop (`_ChannelHub`), whatever the number
of waiting requests: it subscribes to a channel when its first waiter arrives, fans each message
out to that channel's waiters, and unsubscribes when the last one leaves. A waiter subscribes
first (and waits for Redis's confirmation) and only then reads the job's state once from the
database, so a job that ends between the two is never missed. After that the database is not
read again until a message (or a pub/sub reconnect) says there is something to read.

Without Redis (`make run`'s embedded default) there is no pub/sub: waiters sleep-poll the job's
state every `EASEL_API_POLL_INTERVAL` seconds instead, still on the event loop. The same
fallback serves when Redis is configured but cannot be reached.
"""

import asyncio
import contextlib
import contextvars
import json
import logging
import weakref
from collections.abc import AsyncGenerator
from typing import Any
from uuid import UUID

import redis.asyncio as aioredis
from django.conf import settings

from generation.api.asyncviews import run_sync
from generation.models import Generation
from generation.selectors.jobs import progress_of

logger = logging.getLogger(__name__)

FINAL_STATUSES = frozenset(str(status) for status in Generation.FINAL_STATUSES)
_RECHECK = object()  # put in waiters' queues after a reconnect: "messages may be lost, re-read"
_SUBSCRIBE_CONFIRM_TIMEOUT = 5.0


def channel_name(generation_id: UUID | str) -> str:
    return f"generation:{generation_id}"


def generation_snapshot(generation_id: UUID | str) -> dict[str, Any] | None:
    """The job's state as the worker publishes it; None when it does not exist. Sync (ORM)."""
    generation = (
        Generation.objects.filter(pk=generation_id)
        .only("status", "progress_step", "progress_total")
        .first()
    )
    if generation is None:
        return None
    return {"status": generation.status, **progress_of(generation=generation)}


class _ChannelHub:
    """One Redis pub/sub connection shared by every waiter on one event loop."""

    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(url)
        self._pubsub = self._client.pubsub()
        self._waiters: dict[str, set[asyncio.Queue]] = {}
        self._confirmations: dict[str, asyncio.Future] = {}
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task | None = None

    async def subscribe(self, channel: str) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        async with self._lock:
            waiters = self._waiters.setdefault(channel, set())
            waiters.add(queue)
            if len(waiters) == 1:
                self._confirmations[channel] = asyncio.get_running_loop().create_future()
                try:
                    await self._pubsub.subscribe(channel)
                except BaseException:
                    del self._waiters[channel]
                    self._confirmations.pop(channel, None)
                    raise
                self._ensure_reader()
            confirmation = self._confirmations.get(channel)
        if confirmation is not None:
            try:
                await asyncio.wait_for(asyncio.shield(confirmation), _SUBSCRIBE_CONFIRM_TIMEOUT)
            except BaseException:
                await self.unsubscribe(channel, queue)
                raise
        return queue

    async def unsubscribe(self, channel: str, queue: asyncio.Queue) -> None:
        async with self._lock:
            waiters = self._waiters.get(channel)
            if waiters is None:
                return
            waiters.discard(queue)
            if waiters:
                return
            del self._waiters[channel]
            self._confirmations.pop(channel, None)
            try:
                await self._pubsub.unsubscribe(channel)
            except (aioredis.ConnectionError, OSError):
                logger.warning("pub/sub unsubscribe failed", extra={"channel": channel})

    def _ensure_reader(self) -> None:
        if self._reader is None or self._reader.done():
            # A fresh context: the reader outlives the request that started it, and must not
            # carry its request id (logs) or its ThreadSensitiveContext.
            self._reader = asyncio.get_running_loop().create_task(
                self._read_forever(), context=contextvars.Context()
            )

    async def _read_forever(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a dropped connection: tell waiters, reconnect
                logger.warning("pub/sub connection lost; reconnecting", exc_info=True)
                self._broadcast_recheck()
                await asyncio.sleep(0.5)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = _text(message.get("channel"))
        if kind == "subscribe":
            confirmation = self._confirmations.get(channel)
            if confirmation is not None and not confirmation.done():
                confirmation.set_result(True)
            return
        if kind != "message":
            return
        try:
            data = json.loads(message["data"])
        except (TypeError, ValueError):
            logger.warning("unreadable progress message", extra={"channel": channel})
            return
        for queue in self._waiters.get(channel, ()):
            queue.put_nowait(data)

    def _broadcast_recheck(self) -> None:
        # Messages published while disconnected are gone; the waiters re-read the database once.
        for waiters in self._waiters.values():
            for queue in waiters:
                queue.put_nowait(_RECHECK)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# Redis connections belong to the event loop that opened them: one hub per loop.
_hubs: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _ChannelHub]" = (
    weakref.WeakKeyDictionary()
)


def _hub() -> _ChannelHub | None:
    if not settings.REDIS_URL:
        return None
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = _ChannelHub(settings.REDIS_URL)
    return hub


async def generation_progress(
    *, generation_id: UUID | str, timeout: float, heartbeat: float | None = None
) -> AsyncGenerator[dict[str, Any] | None, None]:
    """Yields the job's state now and at every change, until it is final or `timeout` passes.

    Yields None every `heartbeat` seconds without news (SSE keeps the connection alive with
    it). The last state yielded is final unless the timeout ended the wait.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    hub = _hub()
    channel = channel_name(generation_id)
    queue = None
    if hub is not None:
        try:
            queue = await hub.subscribe(channel)
        except (aioredis.RedisError, OSError, TimeoutError):
            # Redis is down or slow: the job still ends, so fall back rather than fail a
            # request whose credits are already reserved.
            logger.warning("pub/sub unavailable; polling instead", exc_info=True)
    if hub is None or queue is None:
        async for state in _poll_progress(generation_id, deadline, heartbeat):
            yield state
        return
    try:
        state = await run_sync(generation_snapshot, generation_id)
        if state is None:
            return
        yield state
        while state["status"] not in FINAL_STATUSES:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            wait = min(remaining, heartbeat) if heartbeat else remaining
            try:
                message = await asyncio.wait_for(queue.get(), wait)
            except TimeoutError:
                if heartbeat and loop.time() < deadline:
                    yield None
                continue
            if message is _RECHECK:
                state = await run_sync(generation_snapshot, generation_id) or state
            else:
                state = {**state, **message}
            yield state
    finally:
        await hub.unsubscribe(channel, queue)


async def _poll_progress(
    generation_id: UUID | str, deadline: float, heartbeat: float | None
) -> AsyncGenerator[dict[str, Any] | None, None]:
    """The no-Redis fallback: re-read the job's state on a timer, on the event loop."""
    loop = asyncio.get_running_loop()
    interval = settings.EASEL_API_POLL_INTERVAL
    last: dict[str, Any] | None = None
    quiet_since = loop.time()
    while True:
        state = await run_sync(generation_snapshot, generation_id)
        if state is None:
            return
        if state != last:
            yield state
            last = state
            quiet_since = loop.time()
        elif heartbeat and loop.time() - quiet_since >= heartbeat:
            yield None
            quiet_since = loop.time()
        if state["status"] in FINAL_STATUSES or loop.time() >= deadline:
            return
        await asyncio.sleep(min(interval, max(deadline - loop.time(), 0)))


async def generation_wait_final(*, generation_id: UUID | str, timeout: float) -> bool:
    """Waits until the job is final; False when `timeout` passed first (or it does not exist)."""
    progress = generation_progress(generation_id=generation_id, timeout=timeout)
    async with contextlib.aclosing(progress):  # unsubscribes at once, not when collected
        async for state in progress:
            if state is not None and state["status"] in FINAL_STATUSES:
                return True
    return False
