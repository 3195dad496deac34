"""allauth's two-factor set-up pages, returning to the page that asked for a second factor.

allauth's own views end on its two-factor overview; a staff member sent from /console/ to set
up an authenticator is brought back to /console/ instead (after the recovery codes, when they
were just made).
"""

from typing import Any

from allauth.mfa.recovery_codes.views import ViewRecoveryCodesView
from allauth.mfa.totp.views import ActivateTOTPView
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

RETURN_SESSION_KEY = "two_factor_return_to"


def _safe(request: HttpRequest, url: str) -> str:
    allowed = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if url and allowed else ""


class TwoFactorActivateView(ActivateTOTPView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return_to = _safe(request, request.GET.get(REDIRECT_FIELD_NAME, ""))
        if return_to and request.user.is_authenticated:
            request.session[RETURN_SESSION_KEY] = return_to
        return super().dispatch(request, *args, **kwargs)

    def get_success_url(self) -> str:
        if self.did_generate_recovery_codes:
            return reverse("mfa_view_recovery_codes")  # seen first; it links onwards
        return self.request.session.pop(RETURN_SESSION_KEY, "") or super().get_success_url()


class RecoveryCodesView(ViewRecoveryCodesView):
    def get_context_data(self, **kwargs: Any) -> dict:
        context = super().get_context_data(**kwargs)
        context["continue_url"] = _safe(
            self.request, self.request.session.get(RETURN_SESSION_KEY, "")
        )
        return context


two_factor_activate = TwoFactorActivateView.as_view()
recovery_codes = RecoveryCodesView.as_view()
