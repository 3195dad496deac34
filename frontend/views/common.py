"""Helpers every web view shares: how service errors become pages and messages."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse

from common.errors import ApiError, ContentPolicyViolation, NotFound


def flash_error(request: HttpRequest, error: ApiError) -> None:
    """Shows a service's message; a policy block is tagged so the page links to appeals."""
    tags = "error policy" if isinstance(error, ContentPolicyViolation) else "error"
    messages.add_message(
        request, messages.ERROR, error.message, extra_tags=tags.replace("error", "").strip()
    )


def not_found_as_404(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A selector's NotFound is the page's 404, so another user's rows look like nothing."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from error

    return wrapper
