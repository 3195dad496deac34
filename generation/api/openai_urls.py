"""The OpenAI-compatible API, mounted under /v1/."""

urlpatterns: list = []
