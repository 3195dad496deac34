"""TOTP two-factor authentication and recovery codes, and staff pages behind them."""

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    SECRET_SESSION_KEY,
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.http import HttpResponse
from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.decorators import staff_two_factor_required
from accounts.permissions import IsStaffWithTwoFactor
from tests.factories import TEST_PASSWORD, UserFactory


@staff_two_factor_required
def console_page(request):  # type: ignore[no-untyped-def]
    return HttpResponse("console")


class StaffApi(APIView):
    permission_classes = [IsStaffWithTwoFactor]

    def get(self, request):  # type: ignore[no-untyped-def]
        return Response({"ok": True})


urlpatterns = [
    path("", include("config.urls")),
    path("staff-console/", console_page),
    path("staff-api/", StaffApi.as_view()),
]


def _current_code(secret: str) -> str:
    counter = list(yield_hotp_counters_from_time())[0]
    return format_hotp_value(hotp_value(secret, counter))


def _login(client, email, password=TEST_PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/accounts/login/", {"login": email, "password": password})


def _activate_totp_through_the_pages(client) -> str:  # type: ignore[no-untyped-def]
    response = client.get("/accounts/2fa/totp/activate/")
    # A sensitive change: allauth first asks for the password again.
    assert response.url.startswith("/accounts/reauthenticate/")
    client.post(response.url, {"password": TEST_PASSWORD})
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    response = client.post("/accounts/2fa/totp/activate/", {"code": _current_code(secret)})
    assert response.status_code == 302, response.content.decode()[:500]
    return secret


@pytest.mark.django_db
def test_activate_totp_then_login_asks_for_a_code_and_recovery_codes_work(client):
    user = UserFactory()
    _login(client, user.email)
    _activate_totp_through_the_pages(client)
    assert Authenticator.objects.filter(user=user, type="totp").exists()
    recovery = Authenticator.objects.get(user=user, type="recovery_codes")
    codes = RecoveryCodes(recovery).get_unused_codes()
    assert len(codes) >= 8
    client.post("/accounts/logout/")

    # The password alone no longer signs in: allauth asks for the second factor.
    response = _login(client, user.email)
    assert response.status_code == 302 and response.url == "/accounts/2fa/authenticate/"
    assert client.get("/api/v1/account").status_code == 401
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200
    assert client.get("/api/v1/account").status_code == 401
    # A recovery code signs in once.
    client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert client.get("/api/v1/account").status_code == 200
    body = client.get("/api/v1/account").json()
    assert body["two_factor_enabled"] is True
    client.post("/accounts/logout/")
    _login(client, user.email)
    client.post("/accounts/2fa/authenticate/", {"code": codes[0]})
    assert client.get("/api/v1/account").status_code == 401


@pytest.mark.django_db
def test_login_with_a_totp_code(client):
    user = UserFactory()
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    _login(client, user.email)
    assert client.get("/api/v1/account").status_code == 401
    client.post("/accounts/2fa/authenticate/", {"code": _current_code(secret)})
    assert client.get("/api/v1/account").status_code == 200


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_staff_without_two_factor_are_sent_to_set_it_up(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    _login(client, staff.email)
    for page in ("/admin/", "/admin/accounts/user/", "/staff-console/"):
        response = client.get(page)
        assert response.status_code == 302, page
        assert response.url.startswith("/accounts/2fa/totp/activate/?next="), response.url
    assert client.get("/staff-api/").status_code == 403
    # Once set up, the same pages open.
    _activate_totp_through_the_pages(client)
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/apikey/").status_code == 200
    assert client.get("/staff-console/").status_code == 200
    assert client.get("/staff-api/").status_code == 200


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_the_admins_own_login_form_cannot_skip_the_second_factor(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    secret = generate_totp_secret()
    TOTP.activate(staff, secret)
    response = client.post(
        "/admin/login/?next=/admin/", {"username": staff.email, "password": TEST_PASSWORD}
    )
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/?next=/admin/")
    assert client.get("/admin/").url.startswith("/accounts/login/")
    # Through allauth, with the code, the admin opens.
    _login(client, staff.email)
    client.post("/accounts/2fa/authenticate/", {"code": _current_code(secret)})
    assert client.get("/admin/").status_code == 200


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_people_who_are_not_staff_never_reach_staff_pages(client):
    user = UserFactory()
    TOTP.activate(user, generate_totp_secret())
    client.force_login(user)
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/login/").status_code == 403
    assert client.get("/staff-console/").status_code == 403
    assert client.get("/staff-api/").status_code == 403
    client.logout()
    assert client.get("/staff-console/").url.startswith("/accounts/login/")


@pytest.mark.django_db
def test_the_guard_works_on_the_async_stack_too():
    """uvicorn serves Easel through ASGI: the middleware's async path must guard the same way."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    staff = UserFactory(is_staff=True, is_superuser=True)
    client = AsyncClient()

    async def visit():  # type: ignore[no-untyped-def]
        anonymous = await client.get("/admin/")
        await client.aforce_login(staff)
        without_two_factor = await client.get("/admin/")
        return anonymous, without_two_factor

    anonymous, without_two_factor = async_to_sync(visit)()
    assert anonymous.status_code == 302 and anonymous.url.startswith("/accounts/login/")
    assert without_two_factor.url.startswith("/accounts/2fa/totp/activate/")


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_a_staff_api_key_never_reaches_the_staff_api(api_client):
    """Even with 2FA on the account: the key itself never passed a second factor."""
    from accounts.services.api_keys import api_key_create

    staff = UserFactory(is_staff=True, is_superuser=True)
    TOTP.activate(staff, generate_totp_secret())
    api_client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_create(user=staff, name='s').secret}"
    )
    response = api_client.get("/staff-api/")
    assert response.status_code == 403
    assert "web session" in response.json()["error"]["message"]
    api_client.credentials()
    api_client.force_login(staff)
    assert api_client.get("/staff-api/").status_code == 200
