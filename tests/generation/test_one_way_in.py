"""One way in: every entry point is admitted by generation.services.admission, so each one meets
the tier's limits the same way and, refused, reserves, screens and creates nothing.

Entry points: the OpenAI API (generations, edits, variations), the native API (generations,
preflight), every studio form (create, variations, edit, extend). Limits: the Free tier's
requests per minute (5) and concurrent jobs (1). On PostgreSQL and Redis, the stores the limits
and the reservation really use.
"""

import base64
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image as PILImage

from accounts.services.rate_limits import rate_limit_consume
from billing.models import LedgerEntry, Reservation
from generation.models import Extension, Generation
from moderation.models import Decision
from tests.factories import GenerationFactory
from tests.frontend.conftest import stored_image
from tests.generation.api_helpers import customer
from tests.generation.conftest import picture_with_hole, png

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _request_thread(settings):  # type: ignore[no-untyped-def]
    settings.EASEL_API_SHARED_THREAD_POOL = False


def _upload(name: str, picture: PILImage.Image) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png(picture), content_type="image/png")


def _mask_data_url(side: int) -> str:
    mask = PILImage.new("RGBA", (side, side), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, side // 2, side // 2))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _openai_generations(http, who):  # type: ignore[no-untyped-def]
    body = {"prompt": "a lighthouse at dusk", "n": 1, "size": "256x256"}
    return http.post("/v1/images/generations", body, content_type="application/json", **who.auth)


def _openai_edits(http, who):  # type: ignore[no-untyped-def]
    body = {
        "prompt": "a red door",
        "n": "1",
        "size": "256x256",
        "image": _upload("i.png", picture_with_hole(256, hole=(0, 0, 64, 64))),
    }
    return http.post("/v1/images/edits", body, **who.auth)


def _openai_variations(http, who):  # type: ignore[no-untyped-def]
    body = {"n": "1", "size": "256x256", "image": _upload("i.png", picture_with_hole(256))}
    return http.post("/v1/images/variations", body, **who.auth)


def _native_generations(http, who):  # type: ignore[no-untyped-def]
    body = {"prompt": "a lighthouse at dusk", "n": 1, "size": "256x256"}
    return http.post("/api/v1/generations", body, content_type="application/json", **who.auth)


def _native_preflight(http, who):  # type: ignore[no-untyped-def]
    body = {"prompt": "a lighthouse at dusk", "n": 1, "size": "256x256"}
    return http.post(
        "/api/v1/generations/preflight", body, content_type="application/json", **who.auth
    )


API_ENTRY_POINTS: dict[str, Callable[..., Any]] = {
    "v1 generations": _openai_generations,
    "v1 edits": _openai_edits,
    "v1 variations": _openai_variations,
    "api/v1 generations": _native_generations,
}


def _studio_create(http, who):  # type: ignore[no-untyped-def]
    body = {"prompt": "a lighthouse at dusk", "n": 1, "size": 256}
    return http.post("/create/", body, follow=True)


def _studio_variations(http, who):  # type: ignore[no-untyped-def]
    image = stored_image(user=who.user)
    return http.post(f"/i/{image.pk}/variations", {"n": 1}, follow=True)


def _studio_edit(http, who):  # type: ignore[no-untyped-def]
    image = stored_image(user=who.user)
    body = {"prompt": "a red boat on the sea", "n": 1, "mask": _mask_data_url(256)}
    return http.post(f"/i/{image.pk}/edit", body, follow=True)


def _studio_extend(http, who):  # type: ignore[no-untyped-def]
    image = stored_image(user=who.user)
    body = {"prompt": "a lighthouse on a long coast", "scale": "2", "direction": "right"}
    return http.post(f"/i/{image.pk}/extend", body, follow=True)


def _studio_upload(http, who):  # type: ignore[no-untyped-def]
    """The upload page: a variation of the person's own picture."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (256, 256), (200, 80, 40)).save(buffer, format="PNG")
    upload = SimpleUploadedFile("mine.png", buffer.getvalue(), content_type="image/png")
    body = {"image": upload, "action": "variation", "n": 1, "size": 256}
    return http.post("/create/upload", body, follow=True)


STUDIO_ENTRY_POINTS: dict[str, Callable[..., Any]] = {
    "create": _studio_create,
    "upload": _studio_upload,
    "variations": _studio_variations,
    "edit": _studio_edit,
    "extend": _studio_extend,
}


def _footprint(who) -> tuple[int, int, int, int, int]:  # type: ignore[no-untyped-def]
    """What an admitted request leaves: a reservation, a ledger entry, a job, a policy decision,
    an extension."""
    return (
        Reservation.objects.filter(wallet__user=who.user).count(),
        LedgerEntry.objects.filter(wallet__user=who.user).count(),
        Generation.objects.filter(user=who.user).exclude(status="succeeded").count(),
        Decision.objects.filter(user=who.user).count(),
        Extension.objects.filter(user=who.user).count(),
    )


def _requests_spent(who) -> None:  # type: ignore[no-untyped-def]
    """The Free tier's 5 requests of this minute, spent as five earlier requests would."""
    for _ in range(who.user.tier.requests_per_minute):
        rate_limit_consume(user=who.user, api_key=None, requests=1, images=0)


def _one_job_running(who) -> None:  # type: ignore[no-untyped-def]
    GenerationFactory(user=who.user, status=Generation.Status.RUNNING, size=256)


def _api_refusal(response: Any, *, words: str) -> None:
    assert response.status_code == 429, response.content[:500]
    error = response.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and words in error["message"]
    assert int(response["retry-after"]) >= 1
    for bucket in ("requests", "images"):
        for field in ("limit", "remaining", "reset"):
            assert response.has_header(f"x-ratelimit-{field}-{bucket}"), (field, bucket)


@pytest.mark.parametrize("entry", sorted(API_ENTRY_POINTS))
def test_each_api_entry_point_refuses_past_the_request_rate_with_nothing_reserved(settings, entry):  # type: ignore[no-untyped-def]
    who = customer(tier="free", credits=100, settings=settings)
    _requests_spent(who)
    before = _footprint(who)
    _api_refusal(API_ENTRY_POINTS[entry](Client(), who), words="Rate limit reached for requests")
    assert _footprint(who) == before


@pytest.mark.parametrize("entry", sorted(API_ENTRY_POINTS))
def test_each_api_entry_point_refuses_past_the_concurrent_jobs_with_nothing_reserved(
    settings, entry
):  # type: ignore[no-untyped-def]
    who = customer(tier="free", credits=100, settings=settings)
    _one_job_running(who)
    before = _footprint(who)
    _api_refusal(API_ENTRY_POINTS[entry](Client(), who), words="1 image job in progress")
    assert _footprint(who) == before


def test_preflight_is_a_request_to_the_throttle(settings):  # type: ignore[no-untyped-def]
    """A free way to probe the filter is still limited: the sixth preflight in a minute is
    refused like any request (preflight starts no job, so concurrency does not apply)."""
    who = customer(tier="free", credits=100, settings=settings)
    _one_job_running(who)
    before = _footprint(who)
    for _ in range(who.user.tier.requests_per_minute):
        answered = _native_preflight(Client(), who)
        assert answered.status_code == 200, answered.content[:500]
        assert answered.has_header("x-ratelimit-remaining-requests")
    _api_refusal(_native_preflight(Client(), who), words="Rate limit reached for requests")
    assert _footprint(who) == before


def _studio_refusal(response: Any, *, words: str) -> None:
    page = response.content.decode()
    assert words in page, page[:3000]


@pytest.mark.parametrize("entry", sorted(STUDIO_ENTRY_POINTS))
def test_each_studio_form_refuses_past_the_request_rate_and_says_when(settings, entry):  # type: ignore[no-untyped-def]
    who = customer(tier="free", credits=100, settings=settings)
    http = Client()
    http.force_login(who.user)
    _requests_spent(who)
    before = _footprint(who)
    response = STUDIO_ENTRY_POINTS[entry](http, who)
    _studio_refusal(response, words="Rate limit reached for requests")
    _studio_refusal(response, words="You can try again in ")
    assert _footprint(who) == before


@pytest.mark.parametrize("entry", sorted(STUDIO_ENTRY_POINTS))
def test_each_studio_form_refuses_past_the_concurrent_jobs_and_says_when(settings, entry):  # type: ignore[no-untyped-def]
    """The hole this closes: `POST /create/` 8 times made 8 queued jobs for a Free user."""
    who = customer(tier="free", credits=100, settings=settings)
    http = Client()
    http.force_login(who.user)
    _one_job_running(who)
    before = _footprint(who)
    response = STUDIO_ENTRY_POINTS[entry](http, who)
    _studio_refusal(response, words="You can try again when one of your 1 running job finishes")
    assert _footprint(who) == before


def test_the_studio_create_form_queues_one_job_for_a_free_user_not_eight(
    settings, celery_enqueue_only
):  # type: ignore[no-untyped-def]
    who = customer(tier="free", credits=100, settings=settings)
    http = Client()
    http.force_login(who.user)
    for _ in range(8):
        _studio_create(http, who)
    assert Generation.objects.filter(user=who.user).count() == 1
