"""Django's middleware, whose hooks run on the event loop in the async chain
(common/inline_middleware.py), still save sessions, store messages, refuse forged forms and
send their headers there, as the sync chain does."""

import re

import pytest
from allauth.account.models import EmailAddress
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from tests.factories import UserFactory

PASSWORD = "a-long-enough-password-7"


def _customer():  # type: ignore[no-untyped-def]
    user = UserFactory.create()
    user.set_password(PASSWORD)
    user.save()
    EmailAddress.objects.update_or_create(
        user=user, email=user.email, defaults={"verified": True, "primary": True}
    )
    return user


@pytest.mark.django_db
def test_a_sign_in_through_the_async_chain_saves_its_session_and_its_message():
    user = _customer()

    async def journey():  # type: ignore[no-untyped-def]
        client = AsyncClient(enforce_csrf_checks=True)
        page = await client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token is not None
        signed_in = await client.post(
            "/accounts/login/",
            {"login": user.email, "password": PASSWORD, "csrfmiddlewaretoken": token[1]},
        )
        after = await client.get(signed_in["Location"])
        return signed_in, after

    signed_in, after = async_to_sync(journey)()
    assert signed_in.status_code == 302
    assert after.status_code == 200
    assert after.asgi_request.user == user  # the session was saved, then read back
    assert "Successfully signed in" in after.text  # the message was stored, then shown


@pytest.mark.django_db
def test_a_form_without_its_csrf_token_is_refused_by_the_async_chain():
    user = _customer()

    async def forged():  # type: ignore[no-untyped-def]
        client = AsyncClient(enforce_csrf_checks=True)
        return await client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})

    assert async_to_sync(forged)().status_code == 403


@pytest.mark.django_db
def test_both_chains_send_the_security_and_framing_headers():
    async def fetch():  # type: ignore[no-untyped-def]
        return await AsyncClient().get("/accounts/login/")

    for response in (Client().get("/accounts/login/"), async_to_sync(fetch)()):
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
