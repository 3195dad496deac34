"""Settings for the workers of test_worker_warm_up.py: the test settings, plus two models built
from the tiny weights. One warms slowly for real (its warm-up call renders at 2048 px, seconds of
CPU where the tiny model's 256 px take a fraction of one); one cannot be loaded at all. With
EASEL_TEST_BROKER_FOLDER set the broker is Kombu's filesystem transport in that folder, as
`make run` uses without Redis."""

import os

from config.settings.test import *  # noqa: F403
from config.settings.test import EASEL_MODELS as _CONFIGURED

SLOW_WARM_MODEL = "easel/tiny-slow-warm"
UNLOADABLE_MODEL = "easel/tiny-unloadable"

_tiny = _CONFIGURED["easel/tiny"]
EASEL_MODELS = {
    **_CONFIGURED,
    SLOW_WARM_MODEL: {**_tiny, "native_size": 2048},
    UNLOADABLE_MODEL: {**_tiny, "source": "/nonexistent/easel-unloadable"},
}


def filesystem_broker_options(folder: str) -> dict:
    """The filesystem transport's options for a broker in `folder` (the test sends there too)."""
    return {
        "data_folder_in": f"{folder}/queue",
        "data_folder_out": f"{folder}/queue",
        "processed_folder": f"{folder}/processed",
        "control_folder": f"{folder}/control",
        "store_processed": False,
        "polling_interval": 0.1,
    }


if os.environ.get("EASEL_TEST_BROKER_FOLDER"):
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(
        os.environ["EASEL_TEST_BROKER_FOLDER"]
    )
