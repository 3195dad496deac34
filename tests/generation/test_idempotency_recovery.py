"""Idempotency-Key across a crash: a request that died after creating its job, before recording
the job against the key, is answered by that job on a retry; nothing is made or charged twice."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import Reservation
from generation.models import Generation, IdempotencyRecord
from generation.services import admission
from tests.factories import job_admit
from tests.generation.api_helpers import balance, customer

pytestmark = pytest.mark.django_db

BODY = {"prompt": "a lighthouse at dusk", "n": 2, "size": "256x256"}


class Crash(BaseException):
    """The process dying: nothing after it in the request runs."""


@pytest.fixture(autouse=True)
def _request_thread(settings):  # type: ignore[no-untyped-def]
    settings.EASEL_API_SHARED_THREAD_POOL = False


def _create(http: Client, who):  # type: ignore[no-untyped-def]
    return http.post(
        "/api/v1/generations",
        BODY,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="order-17",
        **who.auth,
    )


@pytest.mark.parametrize("retry_after", [timedelta(seconds=0), timedelta(minutes=5)])
def test_a_retry_after_a_crash_answers_the_same_job_and_charges_once(
    settings, monkeypatch, retry_after
):  # type: ignore[no-untyped-def]
    """Right away, and after the 2 minutes that let an abandoned claim be taken over."""
    who = customer(tier="pro", credits=100, settings=settings)
    before = balance(who.user)

    def die(**_: object) -> None:
        raise Crash()

    monkeypatch.setattr(admission, "idempotency_attach", die)
    with pytest.raises(Crash):
        _create(Client(), who)
    monkeypatch.undo()

    # What the crash left: the job, and the claim naming it but not yet answered by it.
    [job] = Generation.objects.filter(user=who.user)
    record = IdempotencyRecord.objects.get(user=who.user, key="order-17")
    assert record.generation_id is None and record.planned_generation_id == job.pk
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - retry_after)

    retry = _create(Client(), who)
    assert retry.status_code == 202, retry.content
    assert retry.json()["id"] == str(job.pk) and retry["idempotent-replayed"] == "true"
    assert Generation.objects.filter(user=who.user).count() == 1
    assert Reservation.objects.filter(wallet__user=who.user).count() == 1
    assert balance(who.user) == before - job.credits_reserved
    assert IdempotencyRecord.objects.get(pk=record.pk).generation_id == job.pk


def test_a_failure_after_the_job_was_made_keeps_the_key(settings, monkeypatch):  # type: ignore[no-untyped-def]
    """An error after the insert (not a crash) must not free the key for a second job."""
    who = customer(tier="pro", credits=100, settings=settings)
    real_create = admission._screen_reserve_create

    def create_then_fail(**kwargs):  # type: ignore[no-untyped-def]
        real_create(**kwargs)  # screening, reservation, the row
        raise RuntimeError("lost the connection after the commit")

    monkeypatch.setattr(admission, "_screen_reserve_create", create_then_fail)
    with pytest.raises(RuntimeError):
        _create(Client(), who)
    monkeypatch.undo()
    [job] = Generation.objects.filter(user=who.user)
    retry = _create(Client(), who)
    assert retry.status_code == 202 and retry.json()["id"] == str(job.pk)
    assert Generation.objects.filter(user=who.user).count() == 1


def test_a_planned_id_that_names_an_existing_job_is_refused(settings):  # type: ignore[no-untyped-def]
    """Admission never reuses (and so never releases) another job's reservation."""
    who = customer(tier="pro", credits=100, settings=settings)
    job = job_admit(user=who.user, source="native_api", operation="generate", prompt="a")
    held = balance(who.user)
    with pytest.raises(Exception) as refused:
        job_admit(
            user=who.user,
            source="native_api",
            operation="generate",
            prompt="b",
            generation_id=job.pk,
        )
    assert getattr(refused.value, "status_code", None) == 409
    assert balance(who.user) == held
    assert Reservation.objects.get(generation_id=job.pk).status == "reserved"
