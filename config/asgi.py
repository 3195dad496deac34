"""ASGI entry point: uvicorn serves Easel so held OpenAI-style requests do not hold threads."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_asgi_application()

# What a request would otherwise load first: the screening models now, on threads (/readyz
# waits for them); the sending side of the job queue before this process serves at all.
from common.cpu_threads import library_threads_limit  # noqa: E402
from generation.services.generations import enqueue_warm  # noqa: E402
from moderation.services.image_screening import image_screen_preload  # noqa: E402
from moderation.services.screening import prompt_screen_preload  # noqa: E402

library_threads_limit()  # before any model runs: Easel's threads are the parallelism
prompt_screen_preload()
image_screen_preload()
enqueue_warm()
