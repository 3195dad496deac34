"""The current request's id, readable from anywhere in the same task or thread (logs use it)."""

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
