"""A worker's task keeps its database connection from one task to the next, as a web request
does (common/celery_worker.py, CELERY_DB_REUSE_MAX): Celery's Django fixup and Easel's own
task hooks run at each task's start and end, and only a connection Django would drop (past
CONN_MAX_AGE, or broken) is dropped. Real PostgreSQL, Celery's real fixup and signals."""

import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import OperationalError, connection, transaction

from config.celery import app
from generation.tasks import generation_run_task


class _EagerTask:
    request = SimpleNamespace(is_eager=True)  # what Celery sets on a task run by apply()


@pytest.fixture
def kept_connection():  # type: ignore[no-untyped-def]
    """The connection opened as a worker's is (CONN_MAX_AGE as in production), and closed after."""
    connection.close()
    max_age = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 60
    try:
        connection.ensure_connection()
        yield connection
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = max_age
        connection.close()


def _task_boundaries(sender: object) -> None:
    """What a worker runs around a task: the fixup's hooks and the signals' receivers."""
    fixup = DjangoWorkerFixup(app)
    fixup.on_task_prerun(sender=sender)
    task_prerun.send(sender=sender, task_id="t", task=sender)
    fixup.on_task_postrun(sender=sender)
    task_postrun.send(sender=sender, task_id="t", task=sender)


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_task_keeps_a_healthy_connection_and_drops_an_old_one(kept_connection):
    before = _backend_pid()
    for _ in range(3):
        _task_boundaries(generation_run_task)
        assert _backend_pid() == before  # the same PostgreSQL backend: no new connection
    kept_connection.close_at = time.monotonic() - 1  # past CONN_MAX_AGE
    _task_boundaries(generation_run_task)
    assert kept_connection.connection is None
    assert _backend_pid() != before


@pytest.mark.django_db(transaction=True)
def test_a_task_drops_a_connection_left_in_error(kept_connection):
    before = _backend_pid()
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")  # the server drops it
    assert kept_connection.errors_occurred  # Django's error wrapper records it
    _task_boundaries(generation_run_task)
    assert _backend_pid() != before


@pytest.mark.django_db(transaction=True)
def test_an_eager_task_leaves_its_callers_transaction_alone(kept_connection):
    eager = _EagerTask()
    with transaction.atomic():
        before = _backend_pid()
        task_prerun.send(sender=eager, task_id="t", task=eager)
        task_postrun.send(sender=eager, task_id="t", task=eager)
        assert kept_connection.in_atomic_block and _backend_pid() == before
