"""API keys, webhooks and the API quick start."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.selectors import api_key_get_for_user, api_keys_for_user
from accounts.services.api_keys import api_key_create, api_key_revoke
from billing.selectors import api_key_month_spending
from common.errors import ApiError
from common.site import site_url
from frontend.forms import ApiKeyForm, WebhookForm
from frontend.selectors import webhook_deliveries_for_user
from frontend.views.common import AuthedRequest, flash_error, not_found_as_404
from generation.selectors.webhooks import webhook_endpoint_get_for_user, webhook_endpoints_for_user
from generation.services.webhooks import webhook_endpoint_create, webhook_endpoint_delete

# The secret of a key just created survives exactly one page view, in the session.
NEW_SECRET_SESSION_KEY = "frontend.new_api_key_secret"


@login_required
def developers(request: AuthedRequest) -> HttpResponse:
    keys = [
        {"key": key, "month_spending": api_key_month_spending(api_key_id=key.pk)}
        for key in api_keys_for_user(user=request.user, include_revoked=True)[:50]
    ]
    base_url = site_url()
    context = {
        "keys": keys,
        "new_secret": request.session.pop(NEW_SECRET_SESSION_KEY, None),
        "key_form": ApiKeyForm(),
        "webhook_form": WebhookForm(),
        "endpoints": list(webhook_endpoints_for_user(user=request.user)),
        "deliveries": webhook_deliveries_for_user(user=request.user)[:25],
        "base_url": base_url,
        "openai_base_url": f"{base_url}/v1",
    }
    return render(request, "frontend/developers.html", context)


@login_required
@require_POST
def api_key_new(request: AuthedRequest) -> HttpResponse:
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_problem(form))
        return redirect("frontend:developers")
    try:
        created = api_key_create(
            user=request.user,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            monthly_credit_cap=form.cleaned_data["monthly_credit_cap"],
            expires_at=form.expires_at(),
        )
    except ApiError as error:
        flash_error(request, error)
        return redirect("frontend:developers")
    request.session[NEW_SECRET_SESSION_KEY] = created.secret
    return redirect("frontend:developers")


def _form_problem(form: ApiKeyForm) -> str:
    """The first field's error, named: the key form lives in a card on the page, not alone."""
    for name, errors in form.errors.items():
        label = form.fields[name].label or name.replace("_", " ").capitalize()
        return f"{label}: {errors[0]}"
    return "Check the new key's fields."


@login_required
@require_POST
@not_found_as_404
def api_key_revoke_view(request: AuthedRequest, prefix: str) -> HttpResponse:
    key = api_key_get_for_user(user=request.user, prefix=prefix)
    api_key_revoke(key=key)
    messages.success(request, f"Key {key.prefix}… revoked. Requests with it now fail.")
    return redirect("frontend:developers")


@login_required
@require_POST
def webhook_new(request: AuthedRequest) -> HttpResponse:
    form = WebhookForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter a full https:// address.")
        return redirect("frontend:developers")
    try:
        webhook_endpoint_create(user=request.user, url=form.cleaned_data["url"])
        messages.success(request, "Endpoint added. Verify deliveries with its signing secret.")
    except ApiError as error:
        flash_error(request, error)
    return redirect("frontend:developers")


@login_required
@require_POST
@not_found_as_404
def webhook_delete(request: AuthedRequest, endpoint_id: uuid.UUID) -> HttpResponse:
    endpoint = webhook_endpoint_get_for_user(user=request.user, endpoint_id=endpoint_id)
    webhook_endpoint_delete(endpoint=endpoint)
    messages.success(request, "Endpoint removed.")
    return redirect("frontend:developers")
