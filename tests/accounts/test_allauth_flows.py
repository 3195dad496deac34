"""Sign-up, verification, login, logout, password reset and change, e-mail change and lock-out,
all through allauth's real views, with e-mails read from the outbox."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from accounts.models import DEFAULT_TIER_NAME, User
from tests.factories import TEST_PASSWORD, UserFactory

NEW_PASSWORD = "an-entirely-new-passphrase-42"
LINK = re.compile(r"https?://[^\s]+/accounts/[^\s]+")


def _link_in_last_mail(to: str) -> str:
    message = mail.outbox[-1]
    assert message.to == [to]
    match = LINK.search(str(message.body))
    assert match, message.body
    return match.group(0).split("testserver", 1)[-1]


def _login(client, email: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"login": email, "password": password})


def _is_signed_in(client) -> bool:  # type: ignore[no-untyped-def]
    return client.get("/api/v1/account").status_code == 200


@pytest.mark.django_db
def test_sign_up_then_verify_then_log_in(client):
    email = "Ada@Example.com"
    response = client.post(
        "/accounts/signup/", {"email": email, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 302
    user = User.objects.get(email__iexact=email)
    assert user.tier.name == DEFAULT_TIER_NAME
    assert not _is_signed_in(client)  # verification is mandatory
    assert "[Easel]" in mail.outbox[-1].subject

    # Unverified, a login only re-sends the verification e-mail.
    client.logout()
    sent = len(mail.outbox)
    response = _login(client, email, NEW_PASSWORD)
    assert not _is_signed_in(client)
    assert len(mail.outbox) >= sent

    confirm_url = _link_in_last_mail("ada@example.com")
    assert client.get(confirm_url).status_code == 200
    response = client.post(confirm_url)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified
    assert _is_signed_in(client)  # ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION

    client.post("/accounts/logout/")
    assert not _is_signed_in(client)
    _login(client, email, NEW_PASSWORD)
    assert _is_signed_in(client)


@pytest.mark.django_db
def test_sign_up_refuses_weak_passwords_and_taken_addresses(client):
    UserFactory(email="taken@example.com")
    weak = client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "12345", "password2": "12345"},
    )
    assert weak.status_code == 200 and not User.objects.filter(email="new@example.com").exists()
    taken = client.post(
        "/accounts/signup/",
        {"email": "TAKEN@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    # allauth does not reveal that the address is taken (no enumeration): it answers as for a
    # new sign-up and tells the address's owner by e-mail instead. No second account exists.
    assert taken.status_code == 302
    assert User.objects.filter(email__iexact="taken@example.com").count() == 1
    assert mail.outbox[-1].to == ["taken@example.com"]


@pytest.mark.django_db
def test_password_reset_by_e_mail(client):
    user = UserFactory()
    client.post("/accounts/password/reset/", {"email": user.email})
    reset_url = _link_in_last_mail(user.email)
    set_password_url = client.get(reset_url).url  # allauth moves the key into the session
    response = client.post(set_password_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    _login(client, user.email, NEW_PASSWORD)
    assert _is_signed_in(client)
    # The link is single-use: the password changed, so its token no longer matches.
    client.post("/accounts/logout/")
    reused = client.get(reset_url, follow=True)
    assert "Bad Token" in reused.content.decode() or "invalid" in reused.content.decode().lower()


@pytest.mark.django_db
def test_password_change_needs_the_old_password(client):
    user = UserFactory()
    _login(client, user.email, TEST_PASSWORD)
    wrong = client.post(
        "/accounts/password/change/",
        {"oldpassword": "not-it-at-all", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert wrong.status_code == 200
    user.refresh_from_db()
    assert user.check_password(TEST_PASSWORD)
    client.post(
        "/accounts/password/change/",
        {"oldpassword": TEST_PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


@pytest.mark.django_db
def test_e_mail_change_takes_effect_once_the_new_address_is_verified(client):
    user = UserFactory(email="old@example.com")
    _login(client, user.email, TEST_PASSWORD)
    client.post("/accounts/email/", {"action_add": "", "email": "new@example.com"})
    user.refresh_from_db()
    assert user.email == "old@example.com"  # not before verification
    confirm_url = _link_in_last_mail("new@example.com")
    client.post(confirm_url)
    user.refresh_from_db()
    assert user.email == "new@example.com"
    assert list(EmailAddress.objects.filter(user=user).values_list("email", flat=True)) == [
        "new@example.com"
    ]


@pytest.mark.django_db
def test_repeated_failed_logins_lock_the_account_out(client):
    user = UserFactory()
    for _ in range(5):
        response = _login(client, user.email, "wrong-password-guess")
        assert response.status_code == 200
        assert not _is_signed_in(client)
    # Even the right password is refused now, with a message saying why.
    response = _login(client, user.email, TEST_PASSWORD)
    assert not _is_signed_in(client)
    assert "Too many failed login attempts" in response.content.decode()
    # Another account is not locked by this one's failures.
    other = UserFactory()
    _login(client, other.email, TEST_PASSWORD)
    assert _is_signed_in(client)
