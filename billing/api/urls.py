"""Native API routes of billing, mounted under /api/v1/."""

urlpatterns: list = []
