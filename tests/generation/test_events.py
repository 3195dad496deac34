"""Waiting for a job (generation.api.events): with Redis, one database read and then only
pub/sub; without Redis, the documented fallback re-reads the state on a timer."""

import threading
import time

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from generation.api.events import generation_wait_final
from generation.models import Generation
from generation.services.progress import progress_publish
from tests.factories import GenerationFactory, UserFactory

# request_thread: database work on this thread, so CaptureQueriesContext sees every query.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("request_thread")]


@pytest.fixture
def job(db):  # type: ignore[no-untyped-def]
    return GenerationFactory(user=UserFactory(), source="openai_api", prompt="p")


@pytest.mark.redis
def test_with_redis_a_wait_reads_the_database_once(job):
    with CaptureQueriesContext(connection) as queries:
        finished = async_to_sync(generation_wait_final)(generation_id=job.pk, timeout=1.5)
    assert finished is False  # nothing happened: it timed out
    assert len(queries) == 1  # the state read after subscribing; no polling loop


@pytest.mark.redis
def test_with_redis_the_final_message_ends_the_wait(job):
    def finish() -> None:
        time.sleep(0.5)
        progress_publish(generation_id=job.pk, status="running", step=1, total=2)
        progress_publish(generation_id=job.pk, status="succeeded", step=2, total=2)

    threading.Thread(target=finish).start()
    started = time.monotonic()
    with CaptureQueriesContext(connection) as queries:
        finished = async_to_sync(generation_wait_final)(generation_id=job.pk, timeout=30)
    assert finished is True and time.monotonic() - started < 10
    assert len(queries) == 1


def test_without_redis_the_fallback_polls_the_state(job, settings):
    settings.REDIS_URL = ""
    settings.EASEL_API_POLL_INTERVAL = 0.2
    with CaptureQueriesContext(connection) as queries:
        assert async_to_sync(generation_wait_final)(generation_id=job.pk, timeout=1.0) is False
    assert 3 <= len(queries) <= 7
    Generation.objects.filter(pk=job.pk).update(status="canceled")
    assert async_to_sync(generation_wait_final)(generation_id=job.pk, timeout=5) is True


def test_a_missing_job_ends_the_wait_at_once(db):
    started = time.monotonic()
    missing = "00000000-0000-0000-0000-000000000000"
    assert async_to_sync(generation_wait_final)(generation_id=missing, timeout=30) is False
    assert time.monotonic() - started < 5


def test_unreachable_redis_falls_back_to_polling(job, settings):
    """A request whose credits are reserved must not fail because pub/sub is down."""
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    settings.EASEL_API_POLL_INTERVAL = 0.2
    Generation.objects.filter(pk=job.pk).update(status="succeeded")
    assert async_to_sync(generation_wait_final)(generation_id=job.pk, timeout=10) is True


@pytest.mark.redis
def test_many_waiters_share_one_subscription(job):
    """Several waiters on one job (an OpenAI request, an SSE stream, a web page) and others on
    other jobs, in one process: one message for the job wakes every waiter of that job only."""
    import asyncio

    from generation.api import events

    other = GenerationFactory(user=job.user, source="openai_api", prompt="q", seed=2)

    async def scenario() -> tuple[list[bool], bool, int]:
        waiters = [
            asyncio.create_task(generation_wait_final(generation_id=job.pk, timeout=20))
            for _ in range(3)
        ]
        bystander = asyncio.create_task(generation_wait_final(generation_id=other.pk, timeout=3))
        await asyncio.sleep(1.0)  # all subscribed
        hub = events._hubs[asyncio.get_running_loop()]
        subscriptions = len(hub._waiters[events.channel_name(job.pk)])
        # On the test's own thread and connection (thread-sensitive), like the waiters' reads.
        await sync_to_async(Generation.objects.filter(pk=job.pk).update)(status="succeeded")
        await sync_to_async(progress_publish)(generation_id=job.pk, status="succeeded")
        return await asyncio.gather(*waiters), await bystander, subscriptions

    woken, bystander_finished, subscriptions = async_to_sync(scenario)()
    assert woken == [True, True, True]
    assert subscriptions == 3  # three waiters, one Redis subscription for the channel
    assert bystander_finished is False  # the other job's waiter timed out, untouched
