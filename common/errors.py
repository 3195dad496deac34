"""Errors that services raise and both APIs render in OpenAI's error shape.

`{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}` (docs/api.md).
Services raise these; views never build error bodies by hand.
"""

from typing import Any


class ApiError(Exception):
    status_code = 400
    error_type = "invalid_request_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        try_again: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        # When a refused person may try again, in words for a web page ("in 40 seconds").
        self.try_again = try_again
        self.param = param
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers or {}

    def as_body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(ApiError):
    status_code = 400


class NotFound(ApiError):
    status_code = 404
    code = "not_found"


class Conflict(ApiError):
    status_code = 409
    code = "conflict"


class PermissionDenied(ApiError):
    status_code = 403
    error_type = "permission_error"
    code = "permission_denied"


class AuthenticationError(ApiError):
    status_code = 401
    code = "invalid_api_key"


class ContentPolicyViolation(ApiError):
    """A block. OpenAI's shape, plus (inside "error") the decision that blocked and where to
    appeal it, so an integrator can show its end user a way to ask for a review."""

    status_code = 400
    code = "content_policy_violation"

    def __init__(
        self,
        message: str,
        *,
        decision_id: int | None = None,
        appeal_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.decision_id = decision_id
        self.appeal_url = appeal_url

    def as_body(self) -> dict[str, Any]:
        body = super().as_body()
        if self.decision_id is not None:
            body["error"]["decision_id"] = self.decision_id
            body["error"]["appeal_url"] = self.appeal_url
        return body


class InsufficientQuota(ApiError):
    status_code = 429
    error_type = "insufficient_quota"
    code = "insufficient_quota"


class RateLimitExceeded(ApiError):
    status_code = 429
    error_type = "requests"
    code = "rate_limit_exceeded"


class ServiceUnavailable(ApiError):
    status_code = 503
    error_type = "server_error"
    code = "service_unavailable"
