"""Sign-up in Easel's voice: the confirmation e-mail names Easel and its address, the waiting
page sends the link again, and confirming lands on Create."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-and-unusual-passphrase-42"


def _sign_up(client, email: str):  # type: ignore[no-untyped-def]
    return client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )


def _link(message) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r"https?://\S+/accounts/confirm-email/\S+/", message.body)
    assert found, message.body
    return found.group(0)


def test_the_confirmation_email_speaks_as_easel_and_confirming_lands_on_create(client, settings):
    settings.SITE_URL = "https://easel.example"
    response = _sign_up(client, "newcomer@example.com")
    assert response.status_code == 302 and response.url == "/accounts/confirm-email/"
    (message,) = mail.outbox
    assert message.subject == "[Easel] Welcome to Easel: confirm your e-mail address"
    assert message.body.startswith("Hello from Easel,")
    assert "https://easel.example" in message.body and "example.com!" not in message.body
    assert "testserver" not in message.body.split("\n")[0]
    waiting = client.get(response.url).content.decode()
    assert "Check your inbox" in waiting and 'data-testid="resend-form"' in waiting

    path = _link(message).split("testserver", 1)[-1]
    assert "Confirm that <strong>newcomer@example.com</strong>" in client.get(path).content.decode()
    confirmed = client.post(path)
    assert confirmed.status_code == 302 and confirmed.url == "/create/"
    assert client.get("/create/").status_code == 200  # signed in


def test_send_the_link_again_sends_once_per_interval_and_never_reveals_accounts(client):
    _sign_up(client, "slow-inbox@example.com")
    mail.outbox.clear()
    response = client.post(
        "/account/verification/resend", {"email": "Slow-Inbox@example.com"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/accounts/confirm-email/"
    said = [str(m) for m in response.context["messages"]]
    assert any("a new link is on its way" in text for text in said)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["slow-inbox@example.com"]
    assert "/accounts/confirm-email/" in mail.outbox[0].body

    client.post("/account/verification/resend", {"email": "slow-inbox@example.com"})
    assert len(mail.outbox) == 1  # not again within the interval

    unknown = client.post(
        "/account/verification/resend", {"email": "nobody@example.com"}, follow=True
    )
    assert any("a new link is on its way" in str(m) for m in unknown.context["messages"])
    assert len(mail.outbox) == 1


def test_a_confirmed_address_gets_no_new_link_and_a_bad_address_is_refused(client, user):
    assert EmailAddress.objects.filter(user=user, verified=True).exists()
    client.post("/account/verification/resend", {"email": user.email})
    assert mail.outbox == []
    response = client.post("/account/verification/resend", {"email": "not an address"})
    assert response.status_code == 302 and mail.outbox == []
    assert client.get("/account/verification/resend").status_code == 405


def test_signing_in_lands_on_create(client, user):
    from tests.factories import TEST_PASSWORD

    response = client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.url == "/create/"
