import pytest
from rest_framework.test import APIClient

from accounts.services.api_keys import CreatedApiKey, api_key_create


@pytest.fixture
def created_key(user) -> CreatedApiKey:  # type: ignore[no-untyped-def]
    return api_key_create(user=user, name="ci")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def key_client(created_key) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created_key.secret}")
    return client
