"""Scopes: a key does only what its scopes allow; a web session may do everything."""

import pytest
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiKey
from accounts.permissions import HasScope
from accounts.services.api_keys import api_key_create

GENERATE = ApiKey.Scope.GENERATE
READ = ApiKey.Scope.READ


class GenerateOnlyView(APIView):
    permission_classes = [IsAuthenticated, HasScope(GENERATE)]

    def post(self, request):  # type: ignore[no-untyped-def]
        return Response({"ok": True})


class ReadAndGenerateView(APIView):
    permission_classes = [IsAuthenticated, HasScope(READ, GENERATE)]

    def get(self, request):  # type: ignore[no-untyped-def]
        return Response({"ok": True})


urlpatterns = [
    path("scoped/generate", GenerateOnlyView.as_view()),
    path("scoped/both", ReadAndGenerateView.as_view()),
]

pytestmark = pytest.mark.urls(__name__)


def _client_with(api_client, user, scopes):  # type: ignore[no-untyped-def]
    secret = api_key_create(user=user, name="scoped", scopes=scopes).secret
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return api_client


def test_a_key_with_the_scope_passes(user, api_client):
    client = _client_with(api_client, user, [GENERATE])
    assert client.post("/scoped/generate").status_code == 200


def test_a_key_without_the_scope_gets_403_naming_it(user, api_client):
    client = _client_with(api_client, user, [READ])
    response = client.post("/scoped/generate")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "missing_scope"
    assert error["type"] == "permission_error"
    assert "images.generate" in error["message"]


def test_every_listed_scope_is_required(user, api_client):
    client = _client_with(api_client, user, [GENERATE])
    response = client.get("/scoped/both")
    assert response.status_code == 403
    assert "Missing scopes: images.read" in response.json()["error"]["message"]
    both = _client_with(api_client, user, [READ, GENERATE])
    assert both.get("/scoped/both").status_code == 200


def test_a_web_session_has_every_scope(user, client):
    client.force_login(user)
    assert client.post("/scoped/generate").status_code == 200
    assert client.get("/scoped/both").status_code == 200


@pytest.mark.django_db
def test_without_credentials_the_answer_is_401_not_403(api_client):
    response = api_client.post("/scoped/generate")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_an_unknown_scope_is_a_programming_error():
    with pytest.raises(ValueError):
        HasScope("images.delete")
