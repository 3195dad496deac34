"""The test suite: PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set, else embedded."""

from .base import *  # noqa: F403
from .base import env

SECRET_KEY = "test-secret-key-not-for-production-use-0123456789abcdef"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
WEBHOOKS_ALLOW_LOOPBACK = True
# Worker and server processes started by tests do not each load the sentence model at start
# (two cores); tests/moderation/test_preload.py turns it on where it is the subject.
MODERATION_PRELOAD = env.bool("MODERATION_PRELOAD", default=False)
ALLOWED_HOSTS = ["*"]
# Provenance checks are counted per address in Redis, which outlives a test: the tests that
# count them set a small limit and an address of their own.
EASEL_PROVENANCE_CHECKS_PER_MINUTE = 100_000
# Connections closed after each call: threads a test starts (the async views' shared pool,
# receivers, live servers' helpers) would otherwise keep theirs open past the test, and the
# test database could not be dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)  # noqa: F405
