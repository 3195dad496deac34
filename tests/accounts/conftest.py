import pytest
from rest_framework.test import APIClient

from accounts.services.api_keys import ALL_SCOPES, CreatedApiKey, api_key_create


@pytest.fixture
def created_key(user) -> CreatedApiKey:  # type: ignore[no-untyped-def]
    """A key with every scope (a new key's default is narrower: tests/accounts/test_scopes.py)."""
    return api_key_create(user=user, name="ci", scopes=sorted(ALL_SCOPES))


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def key_client(created_key) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created_key.secret}")
    return client
