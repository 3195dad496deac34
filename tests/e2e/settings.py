"""Settings of the live server and worker that the browser tests start.

The test settings, less what only works inside one process: e-mail goes to files (the test
reads the verification link from them) and Celery really queues to the worker process.
"""

import os

from config.settings.test import *  # noqa: F403
from config.settings.test import env

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ["EASEL_E2E_MAIL_DIR"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_EAGER_PROPAGATES = False
# SITE_URL is unset: base settings derive it from EASEL_WEB_PORT, the port the server listens on.
SITE_URL = env("SITE_URL", default=f"http://127.0.0.1:{env.int('EASEL_WEB_PORT')}")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
# The strict production policy, so the browser tests prove the pages need no inline code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob: https:; script-src 'self'; "
    "style-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
)
STATIC_URL = "/static/"
