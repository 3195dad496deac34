"""Settings for ratelimit_worker.py: the test settings, with the embedded cache in a folder of
the test's own (other test runs on this machine clear the shared var/cache at will)."""

import os

from config.settings.test import *  # noqa: F403

if os.environ.get("EASEL_TEST_CACHE_DIR"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": os.environ["EASEL_TEST_CACHE_DIR"],
        }
    }
