"""Admission of a new job (generation/services/admission.py): concurrent jobs, rate limits.

The rate limit counts every request before anything else is spent; the concurrency check answers
early and again inside the transaction that inserts the job.
"""

from typing import Any

import pytest
from django.test import Client

from billing.models import LedgerEntry, Reservation
from billing.services.credits import credits_release
from generation.models import Generation
from moderation.models import Decision
from tests.concurrency import run_concurrently
from tests.generation.api_helpers import balance, customer

BODY = {"prompt": "a lighthouse at dusk", "n": 1, "size": "256x256"}


def _create(http: Client, who) -> Any:  # type: ignore[no-untyped-def]
    return http.post("/api/v1/generations", BODY, content_type="application/json", **who.auth)


@pytest.fixture(autouse=True)
def _request_thread(settings):  # type: ignore[no-untyped-def]
    settings.EASEL_API_SHARED_THREAD_POOL = False


@pytest.mark.django_db
def test_refused_requests_screen_and_reserve_nothing(settings):
    """Free: 5 requests a minute, 1 job at a time. A request refused for concurrency or by the
    rate limit leaves no trace downstream: no policy decision, no ledger entry, no job. Like
    OpenAI's, the rate limit counts every request, the refused ones too."""
    who = customer(tier="free", credits=100, settings=settings)
    http = Client()
    first = _create(http, who)
    assert first.status_code == 202, first.content
    entries, decisions = LedgerEntry.objects.count(), Decision.objects.count()
    for _ in range(4):
        refused = _create(http, who)
        assert refused.status_code == 429
        assert "in progress" in refused.json()["error"]["message"]
    Generation.objects.filter(pk=first.json()["id"]).update(status="succeeded")
    limited = _create(http, who)
    assert limited.status_code == 429 and "Rate limit reached" in limited.json()["error"]["message"]
    assert (LedgerEntry.objects.count(), Decision.objects.count()) == (entries, decisions)
    assert Generation.objects.filter(user=who.user).count() == 1


def _race(who) -> list[object]:  # type: ignore[no-untyped-def]
    """Two requests at once, each on its own thread and PostgreSQL connection."""
    return run_concurrently([lambda: _create(Client(), who).status_code] * 2)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_free_user_sending_two_generations_at_once_gets_one_job(settings, celery_enqueue_only):
    """Two threads, each with its own PostgreSQL connection, race for the one free slot."""
    who = customer(tier="free", credits=100, settings=settings)
    before = balance(who.user)
    for _attempt in range(3):  # several rounds: a lucky interleaving must not pass by chance
        statuses = _race(who)
        assert sorted(statuses) == [202, 429]
        jobs = Generation.objects.filter(user=who.user, status="queued")
        assert jobs.count() == 1
        job = jobs.get()
        assert Reservation.objects.filter(generation_id=job.pk).count() == 1
        assert balance(who.user) == before - job.credits_reserved
        # Settle it as charged nothing, for the next round.
        Generation.objects.filter(pk=job.pk).update(status="failed")
        credits_release(generation_id=job.pk)
