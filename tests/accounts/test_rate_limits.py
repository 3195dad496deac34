"""Per-tier rate limits: the numbers, the headers, the 429, and correctness across processes."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Tier
from accounts.permissions import GENERATE_IMAGES
from accounts.services.api_keys import api_key_create
from accounts.services.rate_limits import (
    concurrent_jobs_check,
    openai_duration,
    rate_limit_consume,
)
from common.errors import RateLimitExceeded
from tests.factories import GenerationFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]


class ConsumingView(APIView):
    """A tiny endpoint that does what the image endpoints do: consume, then answer."""

    permission_classes = GENERATE_IMAGES

    def post(self, request):  # type: ignore[no-untyped-def]
        state = rate_limit_consume(
            user=request.user, api_key=request.auth, images=int(request.data.get("n", 1))
        )
        return Response({"ok": True}, headers=state.headers())


urlpatterns = [path("consume", ConsumingView.as_view())]


@pytest.fixture(params=["redis", "local"])
def backend(request, settings, tmp_path):  # type: ignore[no-untyped-def]
    """Both counters: Redis's Lua script, and the locked file cache used without Redis."""
    if request.param == "redis":
        request.applymarker(pytest.mark.redis)
        if not settings.REDIS_URL:
            pytest.skip("needs Redis: set REDIS_URL")
    else:
        settings.REDIS_URL = ""
        settings.CACHES = {"default": _file_cache(tmp_path)}
    return request.param


def _file_cache(tmp_path: Path) -> dict[str, str]:
    """The embedded cache in this test's own folder: other test runs clear var/cache."""
    return {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(tmp_path / "cache"),
    }


def _tier(user, **limits):  # type: ignore[no-untyped-def]
    Tier.objects.filter(pk=user.tier_id).update(**limits)
    user.tier.refresh_from_db()
    return user


@pytest.mark.parametrize(
    ("milliseconds", "text"),
    [
        (0, "0ms"),
        (17, "17ms"),
        (999.2, "1s"),
        (1000, "1s"),
        (1500, "1.5s"),
        (12_000, "12s"),
        (60_000, "1m0s"),
        (360_000, "6m0s"),
        (61_250, "1m1.25s"),
        (3_723_000, "1h2m3s"),
    ],
)
def test_durations_are_written_the_way_openai_writes_them(milliseconds, text):
    assert openai_duration(milliseconds) == text


@pytest.mark.django_db
def test_a_burst_up_to_the_limit_then_429_with_true_numbers(backend):
    user = _tier(UserFactory(), requests_per_minute=5, images_per_minute=100)
    states = [rate_limit_consume(user=user, api_key=None) for _ in range(5)]
    assert [s.requests.remaining for s in states] == [4, 3, 2, 1, 0]
    assert states[0].headers()["x-ratelimit-limit-requests"] == "5"
    assert states[0].headers()["x-ratelimit-remaining-requests"] == "4"
    # One request refills every 12 s: after the first, the bucket is full again in ~12 s.
    reset = states[0].requests.reset_ms
    assert 11_500 < reset <= 12_000
    assert 59_000 < states[-1].requests.reset_ms <= 60_000
    with pytest.raises(RateLimitExceeded) as refused:
        rate_limit_consume(user=user, api_key=None)
    error = refused.value
    assert error.status_code == 429 and error.code == "rate_limit_exceeded"
    assert 11 <= int(error.headers["retry-after"]) <= 12
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert "requests per minute" in error.message and "Free" in error.message


@pytest.mark.django_db
def test_a_refused_call_charges_neither_bucket(backend):
    user = _tier(UserFactory(), requests_per_minute=10, images_per_minute=4)
    rate_limit_consume(user=user, api_key=None, images=3)
    with pytest.raises(RateLimitExceeded) as refused:
        rate_limit_consume(user=user, api_key=None, images=2)  # only 1 image left
    assert "images per minute" in refused.value.message
    state = rate_limit_consume(user=user, api_key=None, images=1)
    # Two requests charged (the refused one was not), and the last image fitted.
    assert state.requests.remaining == 8
    assert state.images.remaining == 0


@pytest.mark.django_db
def test_a_request_larger_than_the_whole_limit_says_so(backend):
    user = _tier(UserFactory(), images_per_minute=4)
    with pytest.raises(RateLimitExceeded) as refused:
        rate_limit_consume(user=user, api_key=None, images=5)
    assert "retry-after" not in refused.value.headers
    assert "allows 4 images per minute" in refused.value.message


@pytest.mark.django_db
def test_limits_are_per_account_not_per_key(backend):
    user = _tier(UserFactory(), requests_per_minute=2)
    first, second = (api_key_create(user=user, name=n).key for n in ("a", "b"))
    rate_limit_consume(user=user, api_key=first)
    rate_limit_consume(user=user, api_key=second)
    with pytest.raises(RateLimitExceeded):
        rate_limit_consume(user=user, api_key=first)
    other = _tier(UserFactory(), requests_per_minute=2)
    assert rate_limit_consume(user=other, api_key=None).requests.remaining == 1


@pytest.mark.django_db
def test_the_bucket_refills_steadily(backend):
    user = _tier(UserFactory(), images_per_minute=60)  # one image a second
    rate_limit_consume(user=user, api_key=None, images=60)  # the whole bucket, in one call
    with pytest.raises(RateLimitExceeded) as refused:
        rate_limit_consume(user=user, api_key=None, images=1)
    assert 0 < int(refused.value.headers["retry-after-ms"]) <= 1000
    time.sleep(int(refused.value.headers["retry-after-ms"]) / 1000 + 0.05)
    assert rate_limit_consume(user=user, api_key=None, images=1).images.remaining == 0


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_the_api_sends_the_headers_and_openais_429(backend, api_client):
    user = _tier(UserFactory(), requests_per_minute=2, images_per_minute=50)
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=user, name='k').secret}"
    )
    ok = api_client.post("/consume", {"n": 4}, format="json")
    assert ok.status_code == 200
    assert ok["x-ratelimit-limit-requests"] == "2"
    assert ok["x-ratelimit-remaining-requests"] == "1"
    assert ok["x-ratelimit-reset-requests"] == "30s"
    assert ok["x-ratelimit-remaining-images"] == "46"
    api_client.post("/consume", format="json")
    refused = api_client.post("/consume", format="json")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.json()["error"]["type"] == "requests"
    assert int(refused["retry-after"]) >= 1
    assert refused["x-ratelimit-remaining-requests"] == "0"
    assert refused["x-request-id"]


def _run_workers(*, env: dict[str, str], user_id: int, limit: int, attempts: int) -> list[int]:
    start_at = time.time() + 2.0  # after both interpreters have started and imported Django
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("ratelimit_worker.py")),
                str(user_id),
                str(limit),
                str(attempts),
                str(start_at),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        results.append(int(out.strip()))
    return results


@pytest.mark.redis
def test_two_processes_sharing_redis_never_exceed_the_limit(settings):
    # 6 a minute refills one every 10 s: far longer than the hammering takes.
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "PYTHONPATH": str(ROOT)}
    counts = _run_workers(env=env, user_id=990_001 + os.getpid(), limit=6, attempts=40)
    assert sum(counts) == 6, counts


def test_two_processes_on_the_embedded_cache_never_exceed_the_limit(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env["PYTHONPATH"] = str(ROOT)
    env["DJANGO_SETTINGS_MODULE"] = "tests.accounts.worker_settings"
    env["EASEL_TEST_CACHE_DIR"] = str(tmp_path / "cache")
    counts = _run_workers(env=env, user_id=980_001 + os.getpid(), limit=6, attempts=40)
    assert sum(counts) == 6, counts


# --- Concurrent jobs ------------------------------------------------------------------------


def _job(user, status="queued"):  # type: ignore[no-untyped-def]
    return GenerationFactory(user=user, prompt="a cat", status=status)


@pytest.mark.django_db
def test_concurrent_jobs_count_only_queued_and_running():
    user = _tier(UserFactory(), concurrent_jobs=2)
    _job(user, "succeeded")
    _job(user, "failed")
    _job(user, "queued")
    concurrent_jobs_check(user=user)  # 1 of 2 in progress
    _job(user, "running")
    with pytest.raises(RateLimitExceeded) as refused:
        concurrent_jobs_check(user=user)
    assert refused.value.status_code == 429
    assert "2 image jobs in progress" in refused.value.message
    assert refused.value.headers["retry-after"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_cannot_both_take_the_last_slot():
    """Each thread checks and creates in one transaction, on its own connection."""
    user = _tier(UserFactory(), concurrent_jobs=1)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        from django.db import transaction

        try:
            barrier.wait()
            with transaction.atomic():
                concurrent_jobs_check(user=user)
                time.sleep(0.2)  # widen the window between the count and the insert
                _job(user)
            outcomes.append("created")
        except RateLimitExceeded:
            outcomes.append("refused")
        except Exception as error:  # noqa: BLE001 - shown in the assertion below
            outcomes.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "refused"]
