"""DRF glue shared by every API: the exception handler that speaks OpenAI's error shape."""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from common.errors import (
    ApiError,
    AuthenticationError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimitExceeded,
)


def _first_field_error(detail: Any, prefix: str = "") -> tuple[str | None, str, str | None]:
    """(param, message, code) of the first error in a DRF ValidationError detail tree."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            name = field if field != "non_field_errors" else None
            param = f"{prefix}{name}" if name else (prefix.rstrip(".") or None)
            inner_param, message, code = _first_field_error(value, f"{param}." if param else "")
            return inner_param or param, message, code
    if isinstance(detail, list) and detail:
        return _first_field_error(detail[0], prefix)
    code = getattr(detail, "code", None)
    return None, str(detail), code if code not in ("invalid", None) else None


def as_api_error(exc: Exception) -> ApiError | None:
    """Translate Django and DRF exceptions into Easel's ApiError; None when not ours to handle."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, drf.ValidationError):
        param, message, code = _first_field_error(exc.detail)
        if param and message.startswith("This field"):
            message = f"'{param}': {message}"
        return InvalidRequest(message, param=param, code=code)
    if isinstance(exc, drf.ParseError):
        return InvalidRequest(str(exc.detail), code="invalid_body")
    if isinstance(exc, drf.UnsupportedMediaType):
        return InvalidRequest(str(exc.detail), code="unsupported_media_type", status_code=415)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return AuthenticationError(
            str(exc.detail)
            if isinstance(exc, drf.AuthenticationFailed)
            else "You didn't provide an API key. Provide it in an Authorization header "
            "(Authorization: Bearer YOUR_KEY).",
        )
    if isinstance(exc, drf.Throttled):
        wait = int(getattr(exc, "wait", None) or 1)
        return RateLimitExceeded(
            f"Rate limit reached. Try again in {wait}s.", headers={"retry-after": str(wait)}
        )
    if isinstance(exc, Http404 | drf.NotFound):
        return NotFound("The requested resource was not found.")
    if isinstance(exc, DjangoPermissionDenied | drf.PermissionDenied):
        detail = getattr(exc, "detail", None) or "You are not allowed to do this."
        return PermissionDenied(str(detail))
    if isinstance(exc, drf.MethodNotAllowed):
        return InvalidRequest(str(exc.detail), code="method_not_allowed", status_code=405)
    if isinstance(exc, drf.APIException):
        return InvalidRequest(str(exc.detail), status_code=exc.status_code)
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    error = as_api_error(exc)
    if error is None:
        return None  # a real bug: let Django answer 500 and log it
    set_rollback()
    response = Response(error.as_body(), status=error.status_code)
    for name, value in error.headers.items():
        response[name] = value
    if isinstance(error, AuthenticationError):
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
