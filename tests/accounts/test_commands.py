"""Operator commands: stdout only what was asked for; bad arguments give one line on stderr,
a non-zero exit, and change nothing."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.core.management import ManagementUtility
from django.db import connections

from accounts.models import ApiKey, User
from accounts.services.api_keys import api_key_authenticate, api_key_create
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
GOOD_PASSWORD = "operator-chosen-passphrase-1"


def run(capsys, monkeypatch, *argv: str, stdin: str = "") -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """The command as a shell runs it (argument parsing, exit codes), against the test database."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    # run_from_argv closes every connection when done, which would end the test's transaction.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    capsys.readouterr()
    try:
        ManagementUtility(["manage.py", *argv]).execute()
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _snapshot() -> tuple:
    return (
        list(User.objects.order_by("pk").values()),
        list(ApiKey.objects.order_by("pk").values()),
        list(EmailAddress.objects.order_by("pk").values()),
    )


def _assert_one_line_error(code: int, out: str, err: str) -> None:
    assert code != 0
    assert out == ""
    assert err.count("\n") == 1 and err.strip(), repr(err)


@pytest.mark.django_db
def test_user_create_makes_a_verified_staff_account_silently(capsys, monkeypatch):
    code, out, err = run(
        capsys,
        monkeypatch,
        "user",
        "create",
        "Ops@Example.com",
        "--password",
        GOOD_PASSWORD,
        "--tier",
        "pro",
        "--staff",
        "--verified",
    )
    assert (code, out, err) == (0, "", "")
    user = User.objects.get(email="ops@example.com")
    assert user.tier.name == "pro" and user.is_staff and user.check_password(GOOD_PASSWORD)
    assert EmailAddress.objects.get(user=user).verified


@pytest.mark.django_db
def test_user_create_reads_the_password_from_stdin(capsys, monkeypatch):
    code, _, _ = run(
        capsys,
        monkeypatch,
        "user",
        "create",
        "a@example.com",
        "--password",
        "-",
        stdin=GOOD_PASSWORD + "\n",
    )
    assert code == 0
    user = User.objects.get(email="a@example.com")
    assert user.check_password(GOOD_PASSWORD)
    assert user.tier.name == "free"
    assert not EmailAddress.objects.get(user=user).verified


@pytest.mark.django_db
def test_user_create_without_a_password_leaves_it_unusable(capsys, monkeypatch):
    assert run(capsys, monkeypatch, "user", "create", "b@example.com")[0] == 0
    assert not User.objects.get(email="b@example.com").has_usable_password()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "argv",
    [
        ["user"],
        ["user", "delete", "x@example.com"],
        ["user", "create"],
        ["user", "create", "not-an-address"],
        ["user", "create", "taken@example.com"],
        ["user", "create", "TAKEN@example.com"],
        ["user", "create", "new@example.com", "--tier", "gold"],
        ["user", "create", "new@example.com", "--password", "short"],
        ["user", "create", "new@example.com", "--bogus"],
        ["user", "tier", "taken@example.com"],
        ["user", "tier", "taken@example.com", "gold"],
        ["user", "tier", "nobody@example.com", "pro"],
        ["apikey", "create", "nobody@example.com"],
        ["apikey", "create", "taken@example.com", "--scopes", "images.delete"],
        ["apikey", "create", "taken@example.com", "--monthly-cap", "-5"],
        ["apikey", "create", "taken@example.com", "--monthly-cap", "many"],
        ["apikey", "create", "taken@example.com", "--name", ""],
        ["apikey", "revoke", "sk-notthere"],
        ["apikey", "list", "nobody@example.com"],
        ["apikey", "rotate", "taken@example.com"],
    ],
    ids=lambda argv: " ".join(argv) or "empty",
)
def test_bad_arguments_give_one_line_and_change_nothing(capsys, monkeypatch, argv):
    UserFactory(email="taken@example.com")
    before = _snapshot()
    code, out, err = run(capsys, monkeypatch, *argv)
    _assert_one_line_error(code, out, err)
    assert _snapshot() == before


@pytest.mark.django_db
def test_user_tier_moves_the_account(capsys, monkeypatch):
    user = UserFactory()
    assert run(capsys, monkeypatch, "user", "tier", user.email.upper(), "plus") == (0, "", "")
    user.refresh_from_db()
    assert user.tier.name == "plus"


@pytest.mark.django_db
def test_apikey_create_prints_only_a_working_secret(capsys, monkeypatch):
    user = UserFactory()
    code, out, err = run(
        capsys,
        monkeypatch,
        "apikey",
        "create",
        user.email,
        "--name",
        "batch job",
        "--scopes",
        "images.read",
        "--monthly-cap",
        "300",
    )
    assert code == 0 and err == ""
    secret = out.removesuffix("\n")
    assert "\n" not in secret and secret.startswith("sk-")
    key = api_key_authenticate(secret=secret)
    assert key is not None and key.user == user
    assert (
        key.scopes == ["images.read"] and key.monthly_credit_cap == 300 and key.name == "batch job"
    )


@pytest.mark.django_db
def test_apikey_list_and_revoke(capsys, monkeypatch):
    user = UserFactory()
    kept = api_key_create(user=user, name="kept").key
    gone = api_key_create(user=user, name="gone")
    assert run(capsys, monkeypatch, "apikey", "revoke", gone.key.prefix) == (0, "", "")
    assert api_key_authenticate(secret=gone.secret) is None
    assert run(capsys, monkeypatch, "apikey", "revoke", gone.key.prefix)[0] == 0  # idempotent

    code, out, _ = run(capsys, monkeypatch, "apikey", "list", user.email)
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split("\t") == [
        "prefix",
        "name",
        "scopes",
        "created",
        "last_used",
        "monthly_cap",
        "status",
        "expires",
    ]
    assert [line.split("\t")[0] for line in lines[1:]] == [kept.prefix]
    assert gone.secret not in out
    _, out, _ = run(capsys, monkeypatch, "apikey", "list", user.email, "--all")
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[1:]}
    assert rows[gone.key.prefix][-2] == "revoked" and rows[kept.prefix][-2] == "active"


@pytest.mark.parametrize(
    "argv",
    [
        ["user"],
        ["user", "create"],
        ["user", "tier"],
        ["apikey"],
        ["apikey", "create"],
        ["apikey", "revoke"],
        ["apikey", "list"],
    ],
)
def test_every_command_has_help(capsys, monkeypatch, argv):
    code, out, _ = run(capsys, monkeypatch, *argv, "--help")
    assert code == 0 and out.startswith("usage: manage.py")


def test_a_real_shell_sees_one_line_and_exit_status_2():
    result = subprocess.run(
        [sys.executable, "manage.py", "apikey", "create", "x@example.com", "--scopes", "nope"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "invalid choice: 'nope'" in result.stderr
