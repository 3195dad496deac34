"""ASGI entry point: uvicorn serves Easel so held OpenAI-style requests do not hold threads."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
application = get_asgi_application()
