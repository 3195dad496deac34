"""Non-API routes of billing: the Stripe webhook endpoint."""

urlpatterns: list = []
