"""End to end with a real `celery -A config worker` process on Redis and PostgreSQL.

Webhook deliveries are queued after commit and processed by the worker, which calls the local
Stripe for the receipt; the periodic tasks run there as Celery beat would send them.
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client

from billing.models import LedgerEntry, Payment, Reservation, StripeEvent, Wallet
from billing.services.credits import credits_reserve
from billing.services.payments import checkout_pack_start
from tests.billing.conftest import assert_invariant
from tests.billing.stripe_server import TEST_SECRET_KEY, TEST_WEBHOOK_SECRET

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def worker(django_db_setup, _stripe_server_process, tmp_path_factory):  # type: ignore[no-untyped-def]
    from config.celery import app

    database = django_settings.DATABASES["default"]
    if not django_settings.REDIS_URL or database["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("needs PostgreSQL and Redis")
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    for key in client.scan_iter("default*"):  # messages left by an interrupted run
        client.delete(key)
    log = tmp_path_factory.mktemp("billing-worker") / "worker.log"
    host = f"{database['HOST']}:{database['PORT'] or 5432}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://{database['USER']}@{host}/{database['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "STRIPE_SECRET_KEY": TEST_SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "STRIPE_API_BASE": _stripe_server_process.url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork",
         "--concurrency", "2", "--queues", "default", "--loglevel", "INFO",
         "--hostname", f"billing-{uuid.uuid4().hex[:8]}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while "ready." not in log.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield log
    app.conf.task_always_eager = was_eager
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(autouse=True)
def _queued(settings, worker):  # type: ignore[no-untyped-def]
    settings.CELERY_TASK_ALWAYS_EAGER = False


def wait_for(condition, *, timeout: float = 30, log: Path | None = None):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out; worker log:\n{log.read_text()[-3000:] if log else ''}")


def test_a_worker_processes_repeated_deliveries_once(
    user_with_balance, stripe_settings, stripe_server, worker
):
    buyer = user_with_balance(0)
    start = checkout_pack_start(user=buyer)
    session = stripe_server.pay_checkout_session(start.session_id)
    event = stripe_server.event("checkout.session.completed", session)
    responses = [stripe_server.deliver(Client(), event) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    wait_for(lambda: StripeEvent.objects.filter(status="processed").exists(), log=worker)
    wallet = Wallet.objects.get(user=buyer)
    assert wallet.balance == 115
    payment = Payment.objects.get()
    assert payment.status == "paid" and payment.receipt_url  # fetched by the worker from Stripe
    assert LedgerEntry.objects.filter(kind="purchase").count() == 1
    assert_invariant(wallet)


def test_periodic_tasks_run_on_the_worker(user_with_balance, settings, worker):
    from billing.tasks import reservations_sweep_task

    user = user_with_balance(5)
    generation_id = uuid.uuid4()
    credits_reserve(user=user, generation_id=generation_id, amount=2)
    # older than the worker's BILLING_RESERVATION_TIMEOUT (6 hours by default)
    Reservation.objects.update(created_at=Reservation.objects.get().created_at.replace(year=2020))
    reservations_sweep_task.delay()
    wait_for(lambda: Reservation.objects.filter(status="released").exists(), log=worker)
    assert Wallet.objects.get(user=user).balance == 5
