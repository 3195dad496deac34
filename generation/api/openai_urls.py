"""The OpenAI-compatible API, mounted under /v1/."""

from django.urls import path

from generation.api import openai

urlpatterns = [
    path(
        "images/generations",
        openai.ImagesGenerationsApi.as_view(),
        name="openai-images-generations",
    ),
    path("images/edits", openai.ImagesEditsApi.as_view(), name="openai-images-edits"),
    path(
        "images/variations", openai.ImagesVariationsApi.as_view(), name="openai-images-variations"
    ),
    path("models", openai.ModelListApi.as_view(), name="openai-models"),
    # Model ids contain a slash ("easel/tiny"), as Hugging Face names do.
    path("models/<path:model_id>", openai.ModelDetailApi.as_view(), name="openai-model"),
]
