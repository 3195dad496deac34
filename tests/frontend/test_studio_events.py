"""The generation page's live progress: the native API's SSE view at /g/<id>/events, with the
session cookie and the EventSource's Accept header; the owner only. Transactional: the async
view reads the session in a pool thread, on a connection of its own, so the rows must be
committed."""

import json

import pytest
from django.test import Client

from frontend.views.studio import STUDIO_PARTIAL_IMAGES
from generation.models import Generation
from tests.factories import GenerationFactory

pytestmark = pytest.mark.django_db(transaction=True)

EVENT_SOURCE = {"HTTP_ACCEPT": "text/event-stream"}  # what a browser's EventSource sends


def _events(response) -> list[dict]:  # type: ignore[no-untyped-def]
    text = b"".join(response).decode()
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_the_signed_in_owner_streams_progress_with_the_session_cookie(user_client, user):
    done = GenerationFactory.create(user=user, status=Generation.Status.SUCCEEDED)
    page = user_client.get(f"/g/{done.pk}/").content.decode()
    assert "data-events" not in page  # final: nothing to follow
    running = GenerationFactory.create(user=user, status=Generation.Status.QUEUED)
    page = user_client.get(f"/g/{running.pk}/").content.decode()
    url = f"/g/{running.pk}/events"
    assert f'data-events="{url}"' in page
    Generation.objects.filter(pk=running.pk).update(status=Generation.Status.SUCCEEDED)
    response = user_client.get(url, **EVENT_SOURCE)
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    assert _events(response)[-1]["status"] == "succeeded"


def test_the_stream_is_closed_to_other_accounts_visitors_and_api_keys(user, other_user):
    job = GenerationFactory.create(user=user, status=Generation.Status.SUCCEEDED)
    assert Client().get(f"/g/{job.pk}/events", **EVENT_SOURCE).status_code == 401
    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.get(f"/g/{job.pk}/events", **EVENT_SOURCE).status_code == 404
    from accounts.services.api_keys import api_key_create

    secret = api_key_create(user=user, name="k").secret
    keyed = Client().get(f"/g/{job.pk}/events", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert keyed.status_code == 401  # the API's own stream serves keys; this one sessions


def test_a_studio_job_asks_the_worker_for_live_previews(user_client, user):
    """The page's previews are the worker's partial images: a studio job must ask for them."""
    response = user_client.post("/create/", {"prompt": "a lighthouse at dusk", "n": 1, "size": 256})
    assert response.status_code == 302
    assert Generation.objects.get(user=user).partial_images == STUDIO_PARTIAL_IMAGES > 0
