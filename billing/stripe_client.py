"""Every call Easel makes to Stripe, in one small module (the Stripe seam, docs/architecture.md).

The API version is pinned (settings.STRIPE_API_VERSION), so the shapes Easel reads never change
under it; settings.STRIPE_API_BASE points the real SDK at a local server in tests. Results come
back as plain dicts: nothing outside this module touches the SDK's objects.
"""

from __future__ import annotations

import json
from typing import Any

import stripe
from django.conf import settings

from common.errors import InvalidRequest, ServiceUnavailable

NOT_CONFIGURED = (
    "Payments are not configured on this server, so credits cannot be bought right now."
)


def payments_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


class StripeClient:
    """A thin wrapper over the SDK. ServiceUnavailable (503) without keys or when Stripe is down."""

    def __init__(self) -> None:
        if not payments_configured():
            raise ServiceUnavailable(NOT_CONFIGURED, code="payments_not_configured")
        base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
        self._client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            stripe_version=settings.STRIPE_API_VERSION,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=2,
        )

    def _call(self, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        try:
            return method(*args, **kwargs).to_dict()
        except stripe.InvalidRequestError as error:
            raise InvalidRequest(
                f"The payment provider refused the request: {error.user_message or error}"
            ) from error
        except stripe.StripeError as error:
            raise ServiceUnavailable(
                "The payment provider could not be reached. Please try again in a minute.",
                code="payments_unavailable",
            ) from error

    def customer_create(self, *, email: str, user_id: int) -> dict[str, Any]:
        # The idempotency key makes two racing first purchases of one user share one Customer.
        return self._call(
            self._client.v1.customers.create,
            params={"email": email, "metadata": {"user_id": str(user_id)}},
            options={"idempotency_key": f"easel-customer-{user_id}"},
        )

    def checkout_session_create(self, *, params: dict[str, Any]) -> dict[str, Any]:
        return self._call(self._client.v1.checkout.sessions.create, params=params)

    def checkout_session_retrieve(self, *, session_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.checkout.sessions.retrieve, session_id)

    def portal_session_create(self, *, customer_id: str, return_url: str) -> dict[str, Any]:
        return self._call(
            self._client.v1.billing_portal.sessions.create,
            params={"customer": customer_id, "return_url": return_url},
        )

    def invoice_retrieve(self, *, invoice_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.invoices.retrieve, invoice_id)

    def subscription_cancel(self, *, subscription_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.subscriptions.cancel, subscription_id)

    def checkout_session_for_payment_intent(
        self, *, payment_intent_id: str
    ) -> dict[str, Any] | None:
        """The Checkout Session a payment intent paid, or None (an invoice's, or not Easel's)."""
        found = self._call(
            self._client.v1.checkout.sessions.list,
            params={"payment_intent": payment_intent_id, "limit": 1},
        )
        return (found.get("data") or [None])[0]

    def charge_retrieve(self, *, charge_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.charges.retrieve, charge_id)

    def disputes_for_charge(self, *, charge_id: str) -> list[dict[str, Any]]:
        found = self._call(
            self._client.v1.disputes.list, params={"charge": charge_id, "limit": 100}
        )
        return list(found.get("data") or [])

    def payment_intent_retrieve(self, *, payment_intent_id: str) -> dict[str, Any]:
        return self._call(
            self._client.v1.payment_intents.retrieve,
            payment_intent_id,
            params={"expand": ["latest_charge"]},
        )


def webhook_event_verify(*, payload: bytes, signature: str) -> dict[str, Any]:
    """The event in `payload` if Stripe signed these exact bytes recently; else InvalidRequest."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise ServiceUnavailable(NOT_CONFIGURED, code="payments_not_configured")
    try:
        stripe.Webhook.construct_event(
            payload, signature, secret, tolerance=settings.STRIPE_WEBHOOK_TOLERANCE
        )
    except stripe.SignatureVerificationError as error:
        raise InvalidRequest(
            f"Invalid Stripe signature: {error.user_message or error}", code="invalid_signature"
        ) from error
    except ValueError as error:
        raise InvalidRequest("The webhook body is not valid JSON.", code="invalid_body") from error
    # The exact bytes that were verified, as plain JSON (not the SDK's objects).
    return json.loads(payload)
