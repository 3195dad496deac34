"""The Celery app. Settings come from Django's, under the CELERY_ prefix."""

import logging
import os

from celery import Celery
from celery.signals import beat_init

from common.beat_lock import beat_lock_hold
from common.celery_worker import GpuQueuesAfterWarmUp, LivenessTick
from common.logging import RoutineTaskFilter

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("easel")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Probes, metrics, drain and model warm-up of every worker (common/celery_worker.py, whose
# signal handlers connect as it is imported); exactly one beat (common/beat_lock.py).
app.steps["worker"].add(LivenessTick)
app.steps["consumer"].add(GpuQueuesAfterWarmUp)
beat_init.connect(beat_lock_hold)
app.autodiscover_tasks()
# Webhook delivery to API customers lives beside generation's GPU tasks, in its own module.
app.autodiscover_tasks(related_name="webhook_tasks")


@app.on_after_configure.connect
def _ensure_filesystem_broker_folders(sender: Celery, **_: object) -> None:
    """Kombu's filesystem transport (the no-Redis default) needs its folders to exist."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


# Periodic tasks due more often than this are routine: their INFO lines are filtered out.
ROUTINE_TASK_MAX_INTERVAL_SECONDS = 60
# The loggers of beat's "Sending due task", the worker's "received" and "succeeded".
_ROUTINE_LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")


@app.on_after_configure.connect
def _quiet_routine_tasks(sender: Celery, **_: object) -> None:
    schedule = sender.conf.beat_schedule or {}
    frequent = {
        entry["task"]
        for entry in schedule.values()
        if isinstance(entry.get("schedule"), int | float)
        and entry["schedule"] < ROUTINE_TASK_MAX_INTERVAL_SECONDS
    }
    routine = RoutineTaskFilter(frequent)
    for name in _ROUTINE_LOGGERS:
        logging.getLogger(name).addFilter(routine)
