"""Django's own middleware, run in the async chain without a thread hop for each hook.

Under the ASGI server Django's `MiddlewareMixin` runs every `process_request` and
`process_response` through `sync_to_async` (the request's thread): the security, session,
common, CSRF, authentication, messages and clickjacking middleware made twelve thread hops
a request, each a wake-up of another thread and back, 0.1-0.5 ms apiece on the 2-core shared
box (timed in the web process; docs/api.md). These hooks read the request and set headers,
cookies and lazy objects; they block on nothing, so they run on the event loop. A hook that may
touch the database (saving a session, storing messages, a CSRF secret kept in the session)
still goes to the thread: `_request_blocks` and `_response_blocks` say when. `process_view`
hooks are the handler's, and unchanged. The sync chain (WSGI, the test client) runs them as
Django does.
"""

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Message
from django.contrib.sessions.middleware import SessionMiddleware as _Session
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptions
from django.middleware.common import CommonMiddleware as _Common
from django.middleware.csrf import CsrfViewMiddleware as _CsrfView
from django.middleware.security import SecurityMiddleware as _Security


class InlineHooks:
    """Put before a `MiddlewareMixin` subclass whose hooks never block (see the module)."""

    process_request: Any
    process_response: Any
    get_response: Any

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            if self._request_blocks(request):
                response = await sync_to_async(self.process_request, thread_sensitive=True)(request)
            else:
                response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self._response_blocks(request):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(
                    request, response
                )
            else:
                response = self.process_response(request, response)
        return response

    def _request_blocks(self, request: HttpRequest) -> bool:
        return False

    def _response_blocks(self, request: HttpRequest) -> bool:
        return False


class SecurityMiddleware(InlineHooks, _Security):
    pass


class SessionMiddleware(InlineHooks, _Session):
    """The session is loaded lazily (by whoever reads it, in a thread); only a save blocks."""

    def _response_blocks(self, request: HttpRequest) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(InlineHooks, _Common):
    pass


class CsrfViewMiddleware(InlineHooks, _CsrfView):
    """The secret is a cookie (reading and setting it blocks on nothing) unless it is kept in
    the session."""

    def _request_blocks(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)

    def _response_blocks(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)


class AuthenticationMiddleware(InlineHooks, _Authentication):
    """`request.user` is lazy: the view that reads it loads it (in a thread)."""


class MessageMiddleware(InlineHooks, _Message):
    """Messages are stored (a cookie, or the session when they overflow it) only when a view
    used or added some."""

    def _response_blocks(self, request: HttpRequest) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and bool(storage.used or storage.added_new)


class XFrameOptionsMiddleware(InlineHooks, _XFrameOptions):
    pass
