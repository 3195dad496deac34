"""`ensure_local_admin` (what `make run` calls) gives the local admin a way through the staff
console's two-factor check, and finishing two-factor set-up returns to the page that asked."""

import io
import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    SECRET_SESSION_KEY,
    TOTP,
    format_hotp_value,
    hotp_value,
    yield_hotp_counters_from_time,
)
from allauth.mfa.utils import is_mfa_enabled
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import User
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("ensure_local_admin", *args, stdout=out)
    return out.getvalue()


def _code(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, next(iter(yield_hotp_counters_from_time()))))


def test_the_new_admin_gets_a_password_an_authenticator_key_and_a_recovery_code(client):
    printed = _run()
    password = re.search(r"admin@easel\.local / (\S+)", printed).group(1)
    secret = re.search(r"authenticator app: ([A-Z2-7]+)", printed).group(1)
    recovery = re.search(r"recovery code (\S+)\.", printed).group(1)
    assert re.search(r"otpauth://totp/\S+secret=" + secret, printed)
    admin = User.objects.get(email="admin@easel.local")
    assert admin.is_staff and is_mfa_enabled(admin)
    assert TOTP(Authenticator.objects.get(user=admin, type="totp")).validate_code(_code(secret))

    # Signing in with the printed password and the recovery code reaches the console.
    response = client.post("/accounts/login/", {"login": admin.email, "password": password})
    assert response.url == "/accounts/2fa/authenticate/"
    client.post("/accounts/2fa/authenticate/", {"code": recovery})
    assert client.get("/console/").status_code == 200
    codes = RecoveryCodes(Authenticator.objects.get(user=admin, type="recovery_codes"))
    assert recovery not in codes.get_unused_codes()  # one time only


def test_later_runs_print_nothing_and_new_two_factor_replaces_the_old_one():
    first = re.search(r"authenticator app: ([A-Z2-7]+)", _run()).group(1)
    assert _run() == ""
    printed = _run("--new-two-factor")
    second = re.search(r"authenticator app: ([A-Z2-7]+)", printed).group(1)
    assert second != first and "admin@easel.local /" not in printed  # no password again
    admin = User.objects.get(email="admin@easel.local")
    assert Authenticator.objects.filter(user=admin, type="totp").count() == 1
    assert not TOTP(Authenticator.objects.get(user=admin, type="totp")).validate_code(_code(first))


def test_an_admin_made_before_two_factor_gets_it_on_the_next_run():
    admin = User.objects.create_superuser(email="admin@easel.local", password="x" * 12)
    printed = _run()
    assert "authenticator app:" in printed and "admin@easel.local /" not in printed
    assert is_mfa_enabled(admin)


def test_new_two_factor_without_an_admin_is_a_clear_error():
    with pytest.raises(CommandError, match="No admin account"):
        _run("--new-two-factor", "--email", "nobody@example.com")


def test_finishing_two_factor_set_up_returns_to_the_console(client):
    staff = UserFactory(is_staff=True)
    client.post("/accounts/login/", {"login": staff.email, "password": TEST_PASSWORD})
    sent = client.get("/console/")
    assert sent.status_code == 302 and sent.url.startswith("/accounts/2fa/totp/activate/")
    assert "next=%2Fconsole%2F" in sent.url
    response = client.get(sent.url)
    if response.status_code == 302:  # allauth asks for the password again first
        client.post(response.url, {"password": TEST_PASSWORD})
        response = client.get(response.url)
    assert client.get("/accounts/2fa/totp/activate/").status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    done = client.post("/accounts/2fa/totp/activate/", {"code": _code(secret)})
    # The new recovery codes are shown first, with the way back to the console.
    assert done.status_code == 302 and done.url == "/accounts/2fa/recovery-codes/"
    page = client.get(done.url).content.decode()
    assert 'data-testid="recovery-codes"' in page
    assert 'href="/console/" data-testid="two-factor-continue"' in page
    assert client.get("/console/").status_code == 200


def test_an_outside_address_is_never_a_destination(client):
    staff = UserFactory(is_staff=True)
    client.post("/accounts/login/", {"login": staff.email, "password": TEST_PASSWORD})
    client.get("/accounts/2fa/totp/activate/?next=https://evil.example/")
    assert "two_factor_return_to" not in client.session
