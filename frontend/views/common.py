"""Helpers every web view shares: how service errors become pages and messages."""

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib import messages
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from django_htmx.middleware import HtmxDetails

from accounts.models import User
from common.errors import ApiError, ContentPolicyViolation, NotFound


class AuthedRequest(HttpRequest):
    """The request of a view behind login_required (or the staff decorator): the user is a
    real account, and django-htmx's middleware has added `htmx`."""

    user: User  # type: ignore[assignment]
    htmx: HtmxDetails


def flash_error(request: HttpRequest, error: ApiError) -> None:
    """Shows a service's message; a policy block is tagged so the page links to appeals."""
    tags = "error policy" if isinstance(error, ContentPolicyViolation) else "error"
    text = error.message
    if error.try_again:
        text = f"{text} You can try again {error.try_again}."
    messages.add_message(
        request, messages.ERROR, text, extra_tags=tags.replace("error", "").strip()
    )


ViewFunction = TypeVar("ViewFunction", bound=Callable[..., HttpResponseBase])


def not_found_as_404(view: ViewFunction) -> ViewFunction:
    """A selector's NotFound is the page's 404, so another user's rows look like nothing."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from error

    return cast(ViewFunction, wrapper)
