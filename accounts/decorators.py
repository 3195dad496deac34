"""View decorators for staff-only web pages (the console): staff, with two-factor authentication."""

from collections.abc import Callable
from functools import wraps

from allauth.mfa.utils import is_mfa_enabled
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import urlencode


def mfa_setup_redirect(request: HttpRequest) -> HttpResponseRedirect:
    """To allauth's authenticator set-up page, coming back here afterwards."""
    query = urlencode({REDIRECT_FIELD_NAME: request.get_full_path()})
    return HttpResponseRedirect(f"{reverse('mfa_activate_totp')}?{query}")


def staff_two_factor_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous: to the login page. Not staff: 403. Staff without 2FA: to the 2FA set-up page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not (user.is_active and user.is_staff):
            raise PermissionDenied("Staff only.")
        if not is_mfa_enabled(user):
            return mfa_setup_redirect(request)
        return view(request, *args, **kwargs)

    return wrapper
