"""Non-API routes of billing: the Stripe webhook endpoint."""

from django.urls import path

from billing.views import stripe_webhook

urlpatterns = [
    path("billing/stripe/webhook/", stripe_webhook, name="stripe-webhook"),
]
