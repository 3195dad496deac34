"""The Stripe webhook endpoint: a plain view, because the signature covers the raw body."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.services.webhooks import stripe_event_receive
from common.errors import ApiError


@csrf_exempt  # Stripe cannot send a CSRF token; the signature authenticates the request
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        event, created = stripe_event_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except ApiError as error:
        return JsonResponse(error.as_body(), status=error.status_code)
    return JsonResponse({"received": True, "duplicate": not created})
