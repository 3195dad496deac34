"""`Authorization: Bearer sk-...` for both APIs, with OpenAI's 401 body on every failure."""

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts.models import ApiKey, User
from accounts.services.api_keys import api_key_authenticate
from common.errors import AuthenticationError


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        header = request.headers.get("Authorization")
        if header is None:
            return None  # let session authentication try; NotAuthenticated follows if it fails
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: expected 'Authorization: Bearer YOUR_KEY'."
            )
        try:
            key = api_key_authenticate(secret=secret.strip())
        except AuthenticationError as expired:
            raise exceptions.AuthenticationFailed(expired.message) from None
        if key is None:
            raise exceptions.AuthenticationFailed(
                f"Incorrect API key provided: {_redacted(secret.strip())}. "
                "You can find your API keys in your Easel account."
            )
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


def _redacted(secret: str) -> str:
    """OpenAI's style: show the start and end so the user recognises which key, nothing more."""
    if len(secret) <= 8:
        return "****"
    return f"{secret[:3]}****{secret[-4:]}"
