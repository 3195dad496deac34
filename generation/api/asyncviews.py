"""An async DRF view, so a request that waits for images holds no thread while it waits.

DRF's `APIView` is synchronous. The OpenAI-compatible endpoints answer only when the images are
ready (seconds to minutes), so under uvicorn they must wait on the event loop, not in a thread:
hundreds of held requests would otherwise need hundreds of threads. `AsyncApiView` keeps DRF's
authentication, permissions, parsers, exception handler and drf-spectacular schema, and runs
only the short synchronous parts (authentication and anything touching the database) in a
worker thread through `run_sync`.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponseBase
from rest_framework.request import Request
from rest_framework.views import APIView

T = TypeVar("T")


def _with_fresh_connections(function: Callable[..., T]) -> Callable[..., T]:
    """Database work from the shared thread pool obeys CONN_MAX_AGE like a request would.

    Pool threads outlive requests, and Django closes connections only on request signals, which
    fire in the event loop's thread: without this, every pool thread would keep a connection
    open forever (and a broken one would stay broken).
    """

    def wrapped(*args: Any, **kwargs: Any) -> T:
        close_old_connections()
        try:
            return function(*args, **kwargs)
        finally:
            close_old_connections()

    return wrapped


async def run_sync(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run blocking code (ORM, services, Pillow) in the shared thread pool and await it.

    `thread_sensitive=False`: Django's default (`True`) gives each request its own executor
    thread that lives until the response is sent, so a held request would hold a parked thread.
    The shared pool has a fixed number of threads whatever the number of held requests.
    `EASEL_API_SHARED_THREAD_POOL = False` restores Django's default: unit tests use it so the
    views see the test's own (uncommitted) transaction.
    """
    if not settings.EASEL_API_SHARED_THREAD_POOL:
        return await sync_to_async(function, thread_sensitive=True)(*args, **kwargs)
    return await sync_to_async(_with_fresh_connections(function), thread_sensitive=False)(
        *args, **kwargs
    )


def request_thread_release() -> None:
    """Lets this request's private thread go before a long wait; call it from the event loop.

    Django's ASGI handler gives every request a `ThreadSensitiveContext`, and its synchronous
    middleware (sessions, CSRF, auth, messages...) run through `sync_to_async(thread_sensitive=
    True)`, which starts one executor thread per context and keeps it until the response is
    sent. A request held for minutes would keep a parked thread (and, with glibc, a malloc
    arena of its own: about 3 MiB each, measured by bench/held_requests.py) the whole time.
    Nothing runs on that thread while the view awaits, so it is shut down here; the
    middleware's response phase gets a fresh one when the answer is ready. asgiref recreates a
    context's executor on demand, which is what makes this safe.
    """
    context = SyncToAsync.thread_sensitive_context.get(None)
    if context is None:
        return
    executor = SyncToAsync.context_to_thread_executor.pop(context, None)
    if executor is not None:
        executor.shutdown(wait=False)


class AsyncApiView(APIView):
    """An APIView whose handlers are `async def`; see the module's docstring.

    A handler's synchronous first part (validation, the database work it starts with) may be a
    `prepare_<method>` method: it runs in the same pool call as authentication, so the request
    makes one thread hop and one connection check for both, and the handler finds what it
    returned in `self.prepared`.
    """

    prepared: Any = None

    async def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:  # type: ignore[override]
        self.args = args
        self.kwargs = kwargs
        drf_request = self.initialize_request(request, *args, **kwargs)
        self.request = drf_request
        self.headers = self.default_response_headers
        try:
            # Authentication, permissions and throttles read the database: not on the loop.
            self.prepared = await run_sync(self._initial_and_prepare, drf_request, *args, **kwargs)
            method = (drf_request.method or "get").lower()
            handler = getattr(self, method, None) if method in self.http_method_names else None
            if handler is None:
                handler = self._method_not_allowed
            response = await handler(drf_request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - DRF's exception handler decides what it is
            response = self.handle_exception(exc)  # re-raises what it cannot answer
        assert response is not None
        self.response = self.finalize_response(drf_request, response, *args, **kwargs)
        return self.response

    def _initial_and_prepare(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        self.initial(request, *args, **kwargs)
        # Parse the body here too (multipart spools to disk): the handler then reads it freely.
        _ = request.data
        prepare = getattr(self, f"prepare_{(request.method or 'get').lower()}", None)
        return None if prepare is None else prepare(request, *args, **kwargs)

    async def _method_not_allowed(self, request: Request, *args: Any, **kwargs: Any) -> None:
        self.http_method_not_allowed(request, *args, **kwargs)
