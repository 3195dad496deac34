"""Middleware every response passes through."""

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from whitenoise import middleware as _whitenoise

from common.errors import InvalidRequest
from common.request_context import request_id_var

# A client may pass its own id (letters, digits, dashes, up to 64) so its logs and ours join.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _request_id_for(request: HttpRequest) -> str:
    offered = request.headers.get("X-Request-Id", "")
    if _CLIENT_REQUEST_ID.match(offered):
        return offered
    return f"req_{uuid.uuid4().hex}"


class AsyncCapableMiddleware:
    """A middleware that runs natively in both of Django's chains: subclasses write `_call`
    (sync) and `_acall` (async). Under the ASGI server a sync-only middleware would make Django
    hop threads for every request, and run the views after it in a thread."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._call(request)

    def _call(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        raise NotImplementedError


class RequestIdMiddleware(AsyncCapableMiddleware):
    """Gives every request an id, puts it in the logs' context and in `x-request-id`."""

    def _call(self, request: HttpRequest) -> HttpResponse:
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


class ContentSecurityPolicyMiddleware(AsyncCapableMiddleware):
    """Sends settings.CONTENT_SECURITY_POLICY when set (production sets a strict one)."""

    def _call(self, request: HttpRequest) -> HttpResponse:
        return self._with_policy(self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._with_policy(await self.get_response(request))

    @staticmethod
    def _with_policy(response: HttpResponse) -> HttpResponse:
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


class WhiteNoiseMiddleware(_whitenoise.WhiteNoiseMiddleware):
    """WhiteNoise, able to run in Django's async middleware chain.

    WhiteNoise's own middleware is synchronous only, and one sync-only middleware makes Django
    run everything after it (views included) through async_to_sync in a thread: every held
    OpenAI-style request and SSE stream would then hold a blocked thread for its whole wait
    (bench/held_requests.py measured 200 held requests -> 200 threads). Looking a path up in
    WhiteNoise's table is a dict read; only serving a file touches the disk, off the loop.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        super().__init__(get_response)
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        if iscoroutinefunction(self):
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)


# --- Malformed input ---------------------------------------------------------------------------

NUL = "\x00"
_JSON_NUL = re.compile(rb"\\u0000", re.IGNORECASE)
API_PATH_PREFIXES = ("/v1/", "/api/")
FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def nul_character_location(request: HttpRequest) -> str | None:
    """Where a request carries a NUL character, or None: "path", a header's name, a query
    parameter's name, or a JSON body's field ("prompt", "scopes.0"). Form bodies are checked by
    `nul_in_form` once the view is known.

    PostgreSQL cannot store NUL in text (the insert fails inside the database), and no name,
    prompt, URL or search term of a person's needs one, so it is refused once, here, for every
    view. Uploaded files are not text and may hold any bytes.
    """
    if NUL in request.path:
        return "path"
    for name, value in request.headers.items():
        if NUL in value:
            return name
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in value for value in values):
            return name
    content_type = request.content_type or ""
    if content_type.endswith("json") and _JSON_NUL.search(request.body):
        return _json_nul_field(request.body)
    return None


def nul_in_form(request: HttpRequest, view: Callable) -> str | None:
    """The form field (urlencoded or multipart text) holding a NUL, or None.

    Only for views that read forms: parsing a multipart body consumes it, and an API view that
    takes JSON alone must still see it unread, to answer 415 as it does for any other body."""
    if (request.content_type or "") not in FORM_MEDIA_TYPES or not _reads_forms(view):
        return None
    for name, values in request.POST.lists():
        if NUL in name or any(NUL in value for value in values):
            return name
    return None


def _reads_forms(view: Callable) -> bool:
    api_view = getattr(view, "cls", None)  # DRF's as_view() and method_routes() carry it
    if api_view is None:
        return True  # a Django view: request.POST is how it reads a form
    parsers = getattr(api_view, "parser_classes", [])
    return any(getattr(parser, "media_type", "") in FORM_MEDIA_TYPES for parser in parsers)


def _json_nul_field(body: bytes) -> str | None:
    """The field holding a NUL once parsed; None when the body is not JSON (the view's parser
    answers that) or the match was an escaped backslash's text, not a NUL."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return next(_nul_paths(document, prefix=""), None)


def _nul_paths(value: Any, *, prefix: str) -> Iterator[str]:
    if isinstance(value, str):
        if NUL in value:
            yield prefix.rstrip(".") or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            if NUL in str(key):
                yield f"{prefix}{key}".rstrip(".") or "body"
            yield from _nul_paths(item, prefix=f"{prefix}{key}.")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, prefix=f"{prefix}{index}.")


class MalformedInputMiddleware(AsyncCapableMiddleware):
    """Refuses a request carrying a NUL character before any view sees it: the APIs answer 400
    in their error shape (param: the field), the web a 400 page. One rule for every view.

    The address, headers, query and JSON are read on the way in; a form body once Django has
    chosen the view (`process_view`), so a view that does not read forms never has one parsed.
    """

    def process_view(
        self, request: HttpRequest, view: Callable, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        location = nul_in_form(request, view)
        if location is None:
            return None
        if request.path.startswith(API_PATH_PREFIXES):
            return _api_refusal(location)
        return _page_refusal(request, location)

    def _call(self, request: HttpRequest) -> HttpResponse:
        location = nul_character_location(request)
        if location is None:
            return self.get_response(request)
        if request.path.startswith(API_PATH_PREFIXES):
            return _api_refusal(location)
        return _page_refusal(request, location)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        location = nul_character_location(request)
        if location is None:
            return await self.get_response(request)
        if request.path.startswith(API_PATH_PREFIXES):
            return _api_refusal(location)
        return await sync_to_async(_page_refusal)(request, location)


def _message(location: str) -> str:
    where = "the address" if location == "path" else f"'{location}'"
    return f"Invalid characters in {where}: a NUL character (\\u0000) is not accepted."


def _api_refusal(location: str) -> HttpResponse:
    error = InvalidRequest(
        _message(location),
        param=None if location == "path" else location,
        code="invalid_characters",
    )
    return JsonResponse(error.as_body(), status=error.status_code)


def _page_refusal(request: HttpRequest, location: str) -> HttpResponse:
    return render(request, "400.html", {"message": _message(location)}, status=400)
