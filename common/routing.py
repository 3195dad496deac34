"""One URL, one view per HTTP method: `path("account", method_routes(get=A, delete=B))`.

Easel writes one API view per operation (docs/architecture.md), yet REST puts several
operations on one path (GET and DELETE /api/v1/account). Django routes by path only, so this
small dispatcher sends each method to its own view. For the OpenAPI schema it carries a class
whose handlers are those views' own (annotated) methods, so drf-spectacular documents every
operation.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView


def method_routes(**views: type[APIView]) -> Callable[..., HttpResponse]:
    handlers = {method: view.as_view() for method, view in views.items()}
    fallback = next(iter(handlers.values()))  # answers 405 (in OpenAI's shape) for other methods

    # DRF's views are CSRF-exempt and enforce CSRF themselves for session users.
    @csrf_exempt
    def dispatch(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        handler = handlers.get((request.method or "").lower(), fallback)
        return handler(request, *args, **kwargs)

    first = next(iter(views.values()))
    schema_view = type(
        "".join(view.__name__ for view in views.values()),
        (APIView,),
        {
            # Schema warnings then name the file of the views, not this one.
            "__module__": first.__module__,
            "authentication_classes": first.authentication_classes,
            "permission_classes": first.permission_classes,
            **{method: getattr(view, method) for method, view in views.items()},
        },
    )
    dispatch.cls = schema_view  # type: ignore[attr-defined]
    dispatch.initkwargs = {}  # type: ignore[attr-defined]
    return dispatch
