"""The signed local image route. Mounted by generation/api/urls.py under /api/v1/media/."""

from django.urls import path

from generation.views import media_signed

urlpatterns = [
    path("media/<str:token>", media_signed, name="generation-media-signed"),
]
