"""Celery's soft time limit (a real SIGUSR1 to this process, handled by billiard's own handler)
cannot cut a job's settlement in two."""

import os
import signal
import threading
import time

import pytest
from billiard.pool import soft_timeout_sighandler
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection

from billing.models import Reservation
from billing.selectors import image_price
from billing.services.credits import credits_reserve
from common.time_limits import SOFT_TIME_LIMIT_SIGNAL, soft_time_limit_deferred
from generation.models import Generation
from generation.services.worker import generation_fail, generation_settle
from tests.factories import GenerationFactory, ImageFactory, UserFactory


@pytest.fixture
def billiard_handler():
    """The handler a Celery prefork child has for its soft time limit."""
    previous = signal.signal(SOFT_TIME_LIMIT_SIGNAL, soft_timeout_sighandler)
    yield
    signal.signal(SOFT_TIME_LIMIT_SIGNAL, previous)


def _limit_after(statement: str):  # type: ignore[no-untyped-def]
    """A database hook: the soft limit passes just after the first statement that starts so."""

    def hook(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        result = execute(sql, params, many, context)
        if sql.startswith(statement):
            _soft_limit_now()
        return result

    return hook


def _soft_limit_now() -> None:
    """What billiard's pool does when the limit passes; the handler runs at the next bytecode."""
    os.kill(os.getpid(), SOFT_TIME_LIMIT_SIGNAL)


def _spin(seconds: float) -> None:
    """Python code running for `seconds`: a pending signal handler gets its chance meanwhile."""
    finished_at = time.monotonic() + seconds
    while time.monotonic() < finished_at:
        pass


def test_the_limit_is_raised_where_the_section_ends(billiard_handler):
    finished = []
    with pytest.raises(SoftTimeLimitExceeded), soft_time_limit_deferred():
        _soft_limit_now()
        _spin(0.05)  # the handler has had many chances to run by now
        finished.append(True)
    assert finished == [True]


def test_without_a_section_the_limit_interrupts(billiard_handler):
    finished = []
    with pytest.raises(SoftTimeLimitExceeded):
        _soft_limit_now()
        _spin(0.05)
        finished.append(True)
    assert finished == []


def test_a_nested_section_defers_to_the_outer_one(billiard_handler):
    steps = []
    with pytest.raises(SoftTimeLimitExceeded), soft_time_limit_deferred():
        with soft_time_limit_deferred():
            _soft_limit_now()
            _spin(0.05)
        steps.append("after the inner section")
        _spin(0.05)
        steps.append("end of the outer section")
    assert steps == ["after the inner section", "end of the outer section"]
    assert signal.getsignal(SOFT_TIME_LIMIT_SIGNAL) is soft_timeout_sighandler


def test_a_section_with_no_limit_leaves_the_handler_as_it_was(billiard_handler):
    with soft_time_limit_deferred():
        pass
    assert signal.getsignal(SOFT_TIME_LIMIT_SIGNAL) is soft_timeout_sighandler


def test_off_the_main_thread_a_section_changes_no_handler(billiard_handler):
    seen = []

    def run() -> None:
        with soft_time_limit_deferred():
            seen.append(signal.getsignal(SOFT_TIME_LIMIT_SIGNAL))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == [soft_timeout_sighandler]


@pytest.mark.django_db(transaction=True)  # the release is a durable transaction of its own
def test_a_limit_passing_as_a_job_fails_still_releases_its_credits(billiard_handler):
    """Seen in the worker: the limit landed just after the status update, inside the next
    statement, and the credits stayed reserved with the job marked failed."""
    user = UserFactory()
    job = GenerationFactory(user=user, status=Generation.Status.RUNNING, worker_id="w:1")
    credits_reserve(user=user, generation_id=job.pk, amount=1)

    status_update = _limit_after('UPDATE "generation_generation"')
    with connection.execute_wrapper(status_update), pytest.raises(SoftTimeLimitExceeded):
        generation_fail(generation=job, worker_id="w:1", message="The job ran too long.")
    job.refresh_from_db()
    assert job.status == Generation.Status.FAILED
    assert Reservation.objects.get(generation_id=job.pk).status == Reservation.Status.RELEASED


@pytest.mark.django_db(transaction=True)  # the capture is a durable transaction of its own
def test_a_limit_passing_as_a_job_is_charged_still_records_it_succeeded(billiard_handler):
    """Between the capture and the status, a cut would leave the job running though charged,
    for the time-limit handler to mark failed."""
    user = UserFactory()
    job = GenerationFactory(user=user, status=Generation.Status.RUNNING, worker_id="w:1", n=1)
    credits_reserve(user=user, generation_id=job.pk, amount=image_price(pixels=job.pixels))
    image = ImageFactory(generation=job, storage_key=f"generations/{job.pk}/0.png")
    captured = _limit_after('UPDATE "billing_reservation"')
    with connection.execute_wrapper(captured), pytest.raises(SoftTimeLimitExceeded):
        generation_settle(generation=job, worker_id="w:1", delivered=[image])
    job.refresh_from_db()
    assert job.status == Generation.Status.SUCCEEDED
    assert job.credits_captured == Reservation.objects.get(generation_id=job.pk).captured > 0
