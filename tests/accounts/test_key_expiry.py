"""Keys that expire (API, web page, operator command), and the key cap under concurrent creation."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey
from accounts.services.api_keys import (
    MAX_ACTIVE_KEYS_PER_USER,
    api_key_create,
)
from common.errors import InvalidRequest
from tests.accounts.test_commands import run
from tests.concurrency import run_concurrently
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

KEYS_URL = "/api/v1/keys"


def _expire(key: ApiKey, *, ago: dt.timedelta = dt.timedelta(seconds=1)) -> None:
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - ago)


def test_an_expired_key_is_401_saying_that_it_expired(user):
    created = api_key_create(
        user=user,
        name="ci",
        scopes=["account.read"],
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created.secret}")
    assert client.get("/api/v1/account").status_code == 200
    _expire(created.key)
    response = client.get("/api/v1/account")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
    assert error["param"] is None
    assert f"The API key {created.key.prefix}… expired on" in error["message"]
    assert "UTC" in error["message"] and created.secret not in error["message"]


def test_the_openai_endpoints_refuse_an_expired_key_the_same_way(user, settings):
    settings.EASEL_API_SHARED_THREAD_POOL = False
    created = api_key_create(user=user, name="ci", scopes=["images.generate"])
    _expire(created.key)
    response = Client().post(
        "/v1/images/generations",
        {"prompt": "a lighthouse"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {created.secret}",
    )
    assert response.status_code == 401
    assert "expired on" in response.json()["error"]["message"]


def test_expiry_is_set_at_creation_through_the_api_and_must_be_in_the_future(key_client):
    moment = (timezone.now() + dt.timedelta(days=30)).replace(microsecond=0)
    created = key_client.post(
        KEYS_URL,
        {"name": "month", "scopes": ["images.read"], "expires_at": moment.isoformat()},
        format="json",
    )
    assert created.status_code == 201
    assert dt.datetime.fromisoformat(created.json()["expires_at"]) == moment
    assert ApiKey.objects.get(prefix=created.json()["prefix"]).expires_at == moment
    count = ApiKey.objects.count()
    for bad in [(timezone.now() - dt.timedelta(minutes=1)).isoformat(), "tomorrow", "99999-01-01"]:
        response = key_client.post(
            KEYS_URL, {"name": "x", "scopes": ["images.read"], "expires_at": bad}, format="json"
        )
        assert response.status_code == 400, bad
        assert response.json()["error"]["param"] == "expires_at"
    assert ApiKey.objects.count() == count


def test_the_web_page_sets_an_expiry_to_the_end_of_the_chosen_day(user):
    client = Client()
    client.force_login(user)
    day = (timezone.now() + dt.timedelta(days=10)).date()
    client.post(
        "/developers/keys", {"name": "ten days", "scopes": ["images.read"], "expires_on": day}
    )
    key = ApiKey.objects.get(user=user)
    assert key.expires_at == dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC
    )
    page = client.get("/developers/").content.decode()
    shown = (day + dt.timedelta(days=1)).strftime("%-d %b %Y, 00:00 UTC")  # the moment it stops
    assert key.prefix in page and shown in page
    _expire(key)
    assert "Expired" in client.get("/developers/").content.decode()
    client.post(
        "/developers/keys", {"name": "past", "scopes": ["images.read"], "expires_on": "2001-01-01"}
    )
    assert ApiKey.objects.filter(user=user).count() == 1


def test_apikey_create_takes_expires(capsys, monkeypatch):
    user = UserFactory.create()
    code, secret, _ = run(capsys, monkeypatch, "apikey", "create", user.email, "--expires", "90d")
    assert code == 0
    key = ApiKey.objects.get(user=user)
    assert abs(key.expires_at - (timezone.now() + dt.timedelta(days=90))) < dt.timedelta(minutes=1)
    code, _, _ = run(capsys, monkeypatch, "apikey", "create", user.email, "--expires", "2031-05-01")
    assert code == 0
    dated = ApiKey.objects.filter(user=user).order_by("-pk").first()
    assert dated.expires_at == dt.datetime(2031, 5, 2, tzinfo=dt.UTC)
    code, out, err = run(capsys, monkeypatch, "apikey", "create", user.email, "--expires", "soon")
    assert code == 2 and out == "" and "not a duration" in err
    assert ApiKey.objects.filter(user=user).count() == 2
    _, listing, _ = run(capsys, monkeypatch, "apikey", "list", user.email)
    rows = [line.split("\t") for line in listing.splitlines()]
    assert rows[0][-1] == "expires" and rows[1][-1].startswith("2031-05-02")


def test_the_new_default_scopes_leave_management_out(user):
    key = api_key_create(user=user, name="default").key
    assert key.scopes == [
        "images.generate",
        "images.read",
        "moderation.read",
        "moderation.write",
    ]


def test_an_expired_key_frees_its_place_under_the_cap(user):
    keys = [
        api_key_create(user=user, name=f"k{i}", scopes=["images.read"]).key
        for i in range(MAX_ACTIVE_KEYS_PER_USER)
    ]
    with pytest.raises(InvalidRequest):
        api_key_create(user=user, name="one too many", scopes=["images.read"])
    _expire(keys[0])
    assert api_key_create(user=user, name="replacement", scopes=["images.read"]).key.pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_cap_holds_when_keys_are_created_at_the_same_time():
    """Two places left, six creations at once on six connections: exactly two succeed (the
    user's row is locked while the active keys are counted)."""
    user = UserFactory.create()
    for i in range(MAX_ACTIVE_KEYS_PER_USER - 2):
        api_key_create(user=user, name=f"k{i}", scopes=["images.read"])
    results = run_concurrently(
        [
            lambda i=i: api_key_create(user=user, name=f"race{i}", scopes=["images.read"])
            for i in range(6)
        ]
    )
    made = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, InvalidRequest)]
    assert len(made) == 2 and len(refused) == 4, results
    assert all(error.code == "too_many_api_keys" for error in refused)
    assert ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() == (
        MAX_ACTIVE_KEYS_PER_USER
    )
