"""Account deletion: personal data goes, the row stays anonymised, and nothing undoes it."""

import threading

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.sessions.models import Session
from django.db import connection

from accounts.models import ApiKey, User
from accounts.services.api_keys import api_key_create
from accounts.services.users import user_delete
from accounts.signals import user_deleting
from tests.factories import TEST_PASSWORD, UserFactory

ACCOUNT_URL = "/api/v1/account"


def _signed_in_client(client, user):  # type: ignore[no-untyped-def]
    client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    assert client.get(ACCOUNT_URL).status_code == 200
    return client


def _assert_deleted(user_id: int, email: str) -> None:
    user = User.objects.get(pk=user_id)
    assert user.deleted_at is not None
    assert not user.is_active and not user.is_staff and not user.is_superuser
    assert not user.has_usable_password()
    assert user.email == f"deleted-{user_id}@deleted.invalid" and user.display_name == ""
    assert not User.objects.filter(email__iexact=email).exists()
    assert not EmailAddress.objects.filter(user_id=user_id).exists()
    assert not EmailAddress.objects.filter(email__iexact=email).exists()
    assert not Authenticator.objects.filter(user_id=user_id).exists()
    assert not ApiKey.objects.filter(user_id=user_id, revoked_at__isnull=True).exists()
    assert set(ApiKey.objects.filter(user_id=user_id).values_list("name", flat=True)) <= {
        "(account deleted)"
    }


def _sessions_of(user_id: int) -> int:
    return sum(s.get_decoded().get("_auth_user_id") == str(user_id) for s in Session.objects.all())


def test_deleting_through_the_api_removes_data_and_ends_every_session(
    client, user, django_capture_on_commit_callbacks
):
    from django.test import Client

    email = user.email
    User.objects.filter(pk=user.pk).update(display_name="Ada Lovelace")
    TOTP.activate(user, generate_totp_secret())
    key = api_key_create(user=user, name="Ada's laptop")
    other_browser = Client()
    other_browser.force_login(user)
    client.force_login(user)
    assert _sessions_of(user.pk) == 2

    wrong = client.generic("DELETE", ACCOUNT_URL, '{"password": "nope"}', "application/json")
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "password"
    assert User.objects.get(pk=user.pk).deleted_at is None  # a wrong password changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = client.generic(
            "DELETE", ACCOUNT_URL, f'{{"password": "{TEST_PASSWORD}"}}', "application/json"
        )
    assert response.status_code == 204
    _assert_deleted(user.pk, email)
    assert _sessions_of(user.pk) == 0
    for browser in (client, other_browser):
        assert browser.get(ACCOUNT_URL).status_code == 401
    key_client_response = client.get(ACCOUNT_URL, HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    assert key_client_response.status_code == 401
    # The old password no longer signs in, and neither does a password reset.
    client.post("/accounts/login/", {"login": email, "password": TEST_PASSWORD})
    assert client.get(ACCOUNT_URL).status_code == 401


def test_a_replayed_delete_changes_nothing(client, user):
    _signed_in_client(client, user)
    body = f'{{"password": "{TEST_PASSWORD}"}}'
    cookie = client.cookies["sessionid"].value
    assert client.generic("DELETE", ACCOUNT_URL, body, "application/json").status_code == 204
    before = User.objects.filter(pk=user.pk).values().get()
    # The very same request again, with the old session cookie.
    client.cookies["sessionid"] = cookie
    replay = client.generic("DELETE", ACCOUNT_URL, body, "application/json")
    assert replay.status_code == 401
    assert User.objects.filter(pk=user.pk).values().get() == before


def test_the_service_is_idempotent_and_signals_once(user):
    received = []

    def receiver(sender, user, **kwargs):  # type: ignore[no-untyped-def]
        received.append(user.email)  # still the real address: sent before anonymising

    user_deleting.connect(receiver)
    try:
        email = user.email
        first = user_delete(user=user)
        second = user_delete(user=user)
    finally:
        user_deleting.disconnect(receiver)
    assert received == [email]
    assert first.deleted_at == second.deleted_at


def test_a_receiver_that_fails_rolls_the_whole_deletion_back(user):
    key = api_key_create(user=user, name="k")

    def failing(sender, user, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("images could not be removed")

    user_deleting.connect(failing)
    try:
        with pytest.raises(RuntimeError):
            user_delete(user=user)
    finally:
        user_deleting.disconnect(failing)
    user.refresh_from_db()
    key.key.refresh_from_db()
    assert user.deleted_at is None and user.is_active and user.has_usable_password()
    assert key.key.revoked_at is None
    assert EmailAddress.objects.filter(user=user).exists()


def test_an_api_key_cannot_delete_the_account(user, key_client):
    response = key_client.delete(ACCOUNT_URL, {"password": TEST_PASSWORD}, format="json")
    assert response.status_code == 403
    assert User.objects.get(pk=user.pk).deleted_at is None


@pytest.mark.django_db
def test_the_address_can_sign_up_again_as_a_new_account(client):
    user = UserFactory(email="again@example.com")
    user_delete(user=user)
    password = "a-brand-new-passphrase-7"
    client.post(
        "/accounts/signup/",
        {"email": "again@example.com", "password1": password, "password2": password},
    )
    fresh = User.objects.get(email="again@example.com")
    assert fresh.pk != user.pk
    assert User.objects.get(pk=user.pk).deleted_at is not None  # the old one stays deleted


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deletions_signal_once():
    user = UserFactory()
    received = []
    user_deleting.connect(
        lambda sender, user, **kw: received.append(user.pk), weak=False, dispatch_uid="count"
    )
    barrier = threading.Barrier(2)

    def delete() -> None:
        try:
            barrier.wait()
            user_delete(user=User.objects.get(pk=user.pk))
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=delete) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        user_deleting.disconnect(dispatch_uid="count")
    assert received == [user.pk]
    assert User.objects.get(pk=user.pk).deleted_at is not None


def test_a_session_delete_without_the_csrf_token_is_refused(user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    response = browser.generic(
        "DELETE", ACCOUNT_URL, f'{{"password": "{TEST_PASSWORD}"}}', "application/json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]
    assert User.objects.get(pk=user.pk).deleted_at is None
