"""Native API routes of generation, mounted under /api/v1/."""

urlpatterns: list = []
