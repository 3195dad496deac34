"""Structured logs: one JSON object a line, carrying the request id when there is one."""

import json
import logging
from datetime import UTC, datetime

from common.request_context import request_id_var

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged too.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class RoutineTaskFilter(logging.Filter):
    """Drops Celery's routine lines about frequent periodic tasks (beat's "Sending due task",
    the worker's "received" and "succeeded") unless the logger is at DEBUG: a task every few
    seconds would otherwise fill the log at INFO. Warnings and errors about them always pass."""

    def __init__(self, task_names: set[str]) -> None:
        super().__init__()
        self.task_names = task_names

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not self.task_names:
            return True
        if logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return True
        message = record.getMessage()
        return not any(name in message for name in self.task_names)
