"""A Redis wipe on an operator's bad day: FLUSHDB of the broker's database while a job runs, five
wait queued and a paid checkout's event waits for processing. Everything recovers from
PostgreSQL: the outbox sweeps (sent here as beat sends them) re-send what was lost, a real
`celery -A config worker` process on Redis and PostgreSQL runs it, and nothing is charged twice.

The bounds are shortened for the test through the worker's environment (3 s instead of 120 s
and 60 s); docs/generation.md and docs/billing.md give the production bounds.
"""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from billing.models import LedgerEntry, Payment, Reservation, StripeEvent, Wallet
from billing.services.credits import credits_reserve
from billing.services.payments import checkout_pack_start
from generation.models import Generation
from generation.selectors import generation_progress
from generation.services.generations import generation_enqueue
from tests.billing.conftest import assert_invariant
from tests.billing.stripe_server import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET, StripeServer
from tests.factories import GenerationFactory, UserFactory, job_admit, limits_lifted

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
BOUND_SECONDS = 3
FINAL = {"succeeded", "failed", "blocked", "canceled"}


@pytest.fixture(scope="module")
def stripe_api():  # type: ignore[no-untyped-def]
    with StripeServer() as server:
        yield server


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory, stripe_api):  # type: ignore[no-untyped-def]
    """One worker process serving both queues, one child: while it runs a job, every other
    message waits in Redis, where the wipe takes it."""
    from config.celery import app

    database = django_settings.DATABASES["default"]
    if not django_settings.REDIS_URL or database["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL and Redis")
    redis.Redis.from_url(django_settings.REDIS_URL).flushdb()  # nothing left from earlier runs
    folder = tmp_path_factory.mktemp("wipe")
    log = folder / "worker.log"
    host = f"{database['HOST']}:{database['PORT'] or 5432}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{database['USER']}@{host}/{database['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "MEDIA_ROOT": str(folder / "media"),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "HF_HUB_OFFLINE": "1",
        "EASEL_GENERATION_RESEND_AFTER": str(BOUND_SECONDS),
        "BILLING_STRIPE_EVENT_RESEND_AFTER": str(BOUND_SECONDS),
        "EASEL_LANE_PROMOTE_AFTER_SECONDS": "3600",
        # Time limits far above the jobs' length, however loaded the machine is.
        "EASEL_GENERATION_SOFT_TIME_LIMIT": "900",
        "EASEL_GENERATION_HARD_TIME_LIMIT": "960",
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_api.url,
    }
    hostname = f"wipe-{uuid.uuid4().hex[:8]}@%h"
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
         "--concurrency", "1", "--prefetch-multiplier", "1", "--queues", "gpu,default",
         "--loglevel", "INFO", "--hostname", hostname,
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while "ready." not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield folder, hostname.replace("%h", socket.gethostname())
    app.conf.task_always_eager = was_eager
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _waiting_messages(client: redis.Redis, queue: str) -> int:
    """Messages in a queue's Redis lists (kombu keeps one list per priority)."""
    return sum(
        client.llen(key) for key in client.scan_iter(f"{queue}*") if client.type(key) == b"list"
    )


def _log(worker) -> str:  # type: ignore[no-untyped-def]
    return (worker[0] / "worker.log").read_text()[-4000:]


def _consume(app, hostname: str, *, queues: list[str], on: bool) -> None:  # type: ignore[no-untyped-def]
    """Make the worker stop (or start) taking messages from `queues` (Celery remote control)."""
    for queue in queues:
        control = app.control.add_consumer if on else app.control.cancel_consumer
        replies = control(queue, destination=[hostname], reply=True, timeout=10)
        assert replies, f"the worker did not answer {control.__name__}({queue})"


def test_a_broker_wipe_loses_no_job_no_payment_and_charges_nothing_twice(
    worker, stripe_api, settings
):
    from config.celery import app

    hostname = worker[1]
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.STRIPE_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = TEST_WEBHOOK_SECRET
    settings.STRIPE_API_BASE = stripe_api.url
    settings.BILLING_STRIPE_EVENT_RESEND_AFTER = BOUND_SECONDS
    broker = redis.Redis.from_url(django_settings.REDIS_URL)
    user = limits_lifted(UserFactory())  # six jobs at once: about the broker, not the limits
    wallet = Wallet.objects.get(user=user)
    start_balance = wallet.balance

    # While the worker takes nothing, a long job, five short ones and a paid checkout's event
    # are queued; then the worker takes the long one (the oldest) and, with one child and
    # prefetch 1, nothing else: the rest waits in Redis, where the wipe takes it.
    _consume(app, hostname, queues=["gpu", "default"], on=False)
    running = GenerationFactory(user=user, prompt="a long one", steps=40, size=256)
    credits_reserve(user=user, generation_id=running.pk, amount=1)
    generation_enqueue(generation=running)
    queued = [
        job_admit(
            user=user, source="web", operation="generate", prompt=f"a lighthouse {i}",
            n=1, size=256, steps=2,
        )
        for i in range(5)
    ]  # fmt: skip
    start = checkout_pack_start(user=user)
    session = stripe_api.pay_checkout_session(start.session_id)
    assert stripe_api.deliver(Client(), "checkout.session.completed", session).status_code == 200
    assert StripeEvent.objects.get().status == "received"
    _consume(app, hostname, queues=["gpu"], on=True)
    deadline = time.monotonic() + 120
    while (generation_progress(generation_id=running.pk) or {}).get("status") != "running":
        assert time.monotonic() < deadline, _log(worker)
        time.sleep(0.05)
    _consume(app, hostname, queues=["default"], on=True)

    assert Generation.objects.get(pk=running.pk).status == "running"
    assert _waiting_messages(broker, "gpu") == 5 and _waiting_messages(broker, "default") == 1
    broker.flushdb()
    assert _waiting_messages(broker, "gpu") == 0 == _waiting_messages(broker, "default")

    # Beat's part: the sweeps, every second, until everything is final and processed. They
    # start once every wiped job is past the bound, so the first sweep re-sends all five:
    # a sweep that caught only the older ones would let the first re-sent job take the
    # younger ones as batch mates, which ran them without a message of their own.
    youngest = max(
        Generation.objects.filter(pk__in=[j.pk for j in queued]).values_list("sent_at", flat=True)
    )
    while timezone.now() - youngest <= timedelta(seconds=BOUND_SECONDS + 0.5):
        time.sleep(0.1)
    ids = [running.pk, *(job.pk for job in queued)]
    deadline = time.monotonic() + 600
    while True:
        statuses = set(Generation.objects.filter(pk__in=ids).values_list("status", flat=True))
        event = StripeEvent.objects.get()
        if statuses <= FINAL and event.status == "processed":
            break
        assert time.monotonic() < deadline, (
            list(Generation.objects.filter(pk__in=ids).values_list("status", "status_message")),
            event.status,
            _log(worker),
        )
        app.send_task("generation.jobs_resend", queue="default")
        app.send_task("billing.stripe_events_resend", queue="default")
        time.sleep(1)

    for job in Generation.objects.filter(pk__in=ids):
        assert job.status == "succeeded", (job.pk, job.status_message)
        reservation = Reservation.objects.get(generation_id=job.pk)
        assert (reservation.status, reservation.captured) == ("captured", 1)
        kinds = list(
            LedgerEntry.objects.filter(generation_id=job.pk).values_list("kind", flat=True)
        )
        assert sorted(kinds) == ["capture", "reserve"], kinds
    for job in queued:  # their first messages were wiped: each ran from a re-sent one
        job.refresh_from_db()
        assert job.sent_at > job.created_at
    assert Payment.objects.get(checkout_session_id=session["id"]).status == "paid"
    assert LedgerEntry.objects.filter(kind="purchase").count() == 1
    wallet.refresh_from_db()
    assert wallet.balance == start_balance + 115 - 6
    assert_invariant(wallet)
