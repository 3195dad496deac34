"""Keeps staff pages behind two-factor authentication, whatever view serves them.

Django's admin has its own login form, which knows nothing of allauth's second factor: signing
in there would skip it. So every page under the staff prefixes goes through allauth's login
(which asks for the code) and staff without an authenticator are sent to set one up first.
The staff API (`/api/v1/staff/`) is guarded by `IsStaffWithTwoFactor` instead, because API keys
authenticate inside DRF, after middleware.
"""

from allauth.mfa.utils import is_mfa_enabled
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from accounts.decorators import mfa_setup_redirect
from common.middleware import AsyncCapableMiddleware


class StaffTwoFactorMiddleware(AsyncCapableMiddleware):
    def _call(self, request: HttpRequest) -> HttpResponse:
        if _is_staff_path(request):
            refusal = _refusal(request, request.user)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if _is_staff_path(request):
            user = await request.auser()
            refusal = await sync_to_async(_refusal)(request, user)
            if refusal is not None:
                return refusal
        return await self.get_response(request)


def _is_staff_path(request: HttpRequest) -> bool:
    return request.path.startswith(tuple(settings.STAFF_TWO_FACTOR_PATHS))


def _refusal(request: HttpRequest, user) -> HttpResponse | None:  # type: ignore[no-untyped-def]
    if not user.is_authenticated:
        return redirect_to_login(_after_login(request))
    if not user.is_staff:
        # Not the admin's own "log in as someone else" form: that would skip the code.
        raise PermissionDenied("Staff only.")
    if not is_mfa_enabled(user):
        return mfa_setup_redirect(request)
    return None


def _after_login(request: HttpRequest) -> str:
    """Where allauth's login returns to: the admin's own login page is never a destination."""
    if request.path == reverse("admin:login"):
        return request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
    return request.get_full_path()
