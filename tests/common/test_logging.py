"""Beat's frequent periodic tasks do not fill the log at INFO; their failures still show."""

import logging

from common.logging import RoutineTaskFilter
from config.celery import app


def _record(logger: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(logger, level, __file__, 1, message, None, None)


def test_the_routine_lines_of_a_frequent_task_are_dropped_below_debug():
    routine = RoutineTaskFilter({"frontend.extensions_advance"})
    logger = logging.getLogger("celery.beat")
    previous = logger.level
    try:
        logger.setLevel(logging.INFO)
        sending = (
            "Scheduler: Sending due task frontend-extensions-advance (frontend.extensions_advance)"
        )
        assert not routine.filter(_record("celery.beat", logging.INFO, sending))
        other = "Scheduler: Sending due task billing-expire-lots (billing.lots_expire)"
        assert routine.filter(_record("celery.beat", logging.INFO, other))
        failed = "Task frontend.extensions_advance[1] raised unexpected: ValueError()"
        assert routine.filter(_record("celery.beat", logging.ERROR, failed))
        logger.setLevel(logging.DEBUG)  # --loglevel DEBUG shows them again
        assert routine.filter(_record("celery.beat", logging.INFO, sending))
    finally:
        logger.setLevel(previous)


def test_the_celery_app_quiets_the_tasks_due_more_often_than_a_minute():
    assert app.conf.beat_schedule  # configured, so on_after_configure has run
    filters = [
        f for f in logging.getLogger("celery.app.trace").filters if isinstance(f, RoutineTaskFilter)
    ]
    assert filters, "config.celery installs the filter once configured"
    names = filters[0].task_names
    assert "frontend.extensions_advance" in names  # every 5 s
    assert "billing.lots_expire" not in names  # every 15 min: its lines stay
