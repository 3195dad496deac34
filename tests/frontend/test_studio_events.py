"""The studio's live progress uses the native API's event stream with the session cookie: the
same async view, the owner only. Transactional: the async view reads the session in a pool
thread, on a connection of its own, so the rows must be committed."""

import json

import pytest
from django.test import Client

from generation.models import Generation
from tests.factories import GenerationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _events(response) -> list[dict]:  # type: ignore[no-untyped-def]
    text = b"".join(response).decode()
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


def test_the_signed_in_owner_streams_progress_with_the_session_cookie(user_client, user):
    done = GenerationFactory.create(user=user, status=Generation.Status.SUCCEEDED)
    page = user_client.get(f"/g/{done.pk}/").content.decode()
    assert "data-events" not in page  # final: nothing to follow
    running = GenerationFactory.create(user=user, status=Generation.Status.QUEUED)
    page = user_client.get(f"/g/{running.pk}/").content.decode()
    url = f"/api/v1/generations/{running.pk}/events"
    assert f'data-events="{url}"' in page
    Generation.objects.filter(pk=running.pk).update(status=Generation.Status.SUCCEEDED)
    response = user_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    assert _events(response)[-1]["status"] == "succeeded"


def test_the_stream_is_closed_to_other_accounts_and_to_visitors(user, other_user):
    job = GenerationFactory.create(user=user, status=Generation.Status.SUCCEEDED)
    visitor = Client()
    assert visitor.get(f"/api/v1/generations/{job.pk}/events").status_code in (401, 403)
    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.get(f"/api/v1/generations/{job.pk}/events").status_code == 404
