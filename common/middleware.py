"""Middleware every response passes through."""

import re
import uuid
from collections.abc import Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from common.request_context import request_id_var

# A client may pass its own id (letters, digits, dashes, up to 64) so its logs and ours join.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _request_id_for(request: HttpRequest) -> str:
    offered = request.headers.get("X-Request-Id", "")
    if _CLIENT_REQUEST_ID.match(offered):
        return offered
    return f"req_{uuid.uuid4().hex}"


class RequestIdMiddleware:
    """Gives every request an id, puts it in the logs' context and in `x-request-id`."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        if iscoroutinefunction(self):
            return self._acall(request)
        request_id = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(request_id)
        response["x-request-id"] = request.request_id  # type: ignore[attr-defined]
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        request_id = self._begin(request)
        try:
            response = await self.get_response(request)
        finally:
            request_id_var.reset(request_id)
        response["x-request-id"] = request.request_id  # type: ignore[attr-defined]
        return response

    def _begin(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        request.request_id = _request_id_for(request)  # type: ignore[attr-defined]
        return request_id_var.set(request.request_id)  # type: ignore[attr-defined]


class ContentSecurityPolicyMiddleware:
    """Sends settings.CONTENT_SECURITY_POLICY when set (production sets a strict one)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._with_policy(self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._with_policy(await self.get_response(request))

    @staticmethod
    def _with_policy(response: HttpResponse) -> HttpResponse:
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
