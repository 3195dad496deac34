"""The project's own middleware answers the same through Django's sync and async chains."""

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

POLICY = "default-src 'self'"


@pytest.mark.django_db
def test_the_content_security_policy_and_request_id_are_sent_by_both_chains(settings):
    settings.CONTENT_SECURITY_POLICY = POLICY
    sync = Client().get("/api/v1/account", HTTP_X_REQUEST_ID="client-id-1")
    assert sync["Content-Security-Policy"] == POLICY
    assert sync["x-request-id"] == "client-id-1"

    async def fetch():  # type: ignore[no-untyped-def]
        return await AsyncClient().get("/api/v1/account", headers={"X-Request-Id": "client-id-2"})

    asynchronous = async_to_sync(fetch)()
    assert asynchronous["Content-Security-Policy"] == POLICY
    assert asynchronous["x-request-id"] == "client-id-2"


@pytest.mark.django_db
def test_no_policy_is_sent_when_none_is_set(settings):
    settings.CONTENT_SECURITY_POLICY = ""
    assert "Content-Security-Policy" not in Client().get("/api/v1/account")
