"""A key can make keys, but never one with scopes it lacks itself."""

from accounts.models import ApiKey
from accounts.services.api_keys import api_key_create

KEYS_URL = "/api/v1/keys"


def test_a_read_only_key_cannot_mint_a_generating_key(user, api_client):
    read_only = api_key_create(user=user, name="ro", scopes=["images.read", "keys.write"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_only.secret}")
    # Without scopes a new key gets the defaults, images.generate among them: beyond this key.
    for body in ({"name": "escalate"}, {"name": "escalate", "scopes": ["images.generate"]}):
        response = api_client.post(KEYS_URL, body, format="json")
        assert response.status_code == 403
        assert "images.generate" in response.json()["error"]["message"]
    assert ApiKey.objects.count() == 1
    allowed = api_client.post(KEYS_URL, {"name": "ro2", "scopes": ["images.read"]}, format="json")
    assert allowed.status_code == 201
