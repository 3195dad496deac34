"""The account page (e-mail, password, two-factor, deletion) and appeals."""

from allauth.account.models import EmailAddress
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from accounts.services.users import user_delete
from accounts.services.verification import email_verification_resend
from common.errors import ApiError, InvalidRequest
from common.numbers import whole_number
from frontend.forms import AppealForm, DeleteAccountForm, ResendVerificationForm
from frontend.selectors import appeals_for_user, recent_blocks
from frontend.views.common import AuthedRequest, flash_error
from moderation.services.appeals import appeal_create


@login_required
def account(request: AuthedRequest) -> HttpResponse:
    context = {
        "emails": EmailAddress.objects.filter(user=request.user).order_by("-primary", "email"),
        "mfa_enabled": is_mfa_enabled(request.user),
        "delete_form": DeleteAccountForm(),
    }
    return render(request, "frontend/account.html", context)


@login_required
@require_POST
def account_delete(request: AuthedRequest) -> HttpResponse:
    form = DeleteAccountForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Type DELETE (in capitals) to confirm.")
        return redirect("frontend:account")
    try:
        user_delete(user=request.user)
    except ApiError as error:
        flash_error(request, error)
        return redirect("frontend:account")
    logout(request)
    messages.success(request, "Your account was deleted. Thank you for using Easel.")
    return redirect("frontend:home")


@login_required
@require_http_methods(["GET", "POST"])
def appeals(request: AuthedRequest) -> HttpResponse:
    """Ask a person to look again at a blocked request."""
    form = AppealForm(request.POST or None)
    blocks = recent_blocks(user=request.user)
    if request.method == "POST" and form.is_valid():
        decision_id = request.POST.get("decision", "")
        try:
            chosen = whole_number(decision_id, minimum=1, maximum=2**63 - 1)
            if chosen is None:
                raise InvalidRequest(
                    "Choose the request you want us to look at again.", param="decision"
                )
            appeal_create(user=request.user, decision_id=chosen, text=form.cleaned_data["text"])
            messages.success(
                request, "Thank you. A person will review it and we will e-mail you the outcome."
            )
            return redirect("frontend:appeals")
        except ApiError as error:
            flash_error(request, error)
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "blocks": blocks, "appeals": appeals_for_user(user=request.user)}
    return render(request, "frontend/appeals.html", context, status=status)


@require_POST
def verification_resend(request: HttpRequest) -> HttpResponse:
    """Another e-mail confirmation link; the answer is the same whether or not one was sent."""
    form = ResendVerificationForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter the e-mail address you signed up with.")
        return redirect("account_email_verification_sent")
    email_verification_resend(request=request, email=form.cleaned_data["email"])
    messages.info(
        request,
        "If that address is waiting to be confirmed, a new link is on its way. "
        "It can take a minute to arrive.",
    )
    return redirect("account_email_verification_sent")
