"""Sections of a task that Celery's soft time limit must not cut in two.

The soft limit is a signal: billiard's pool sends SIGUSR1 to the child and its handler raises
SoftTimeLimitExceeded at whatever line the task's main thread is on. Between two statements
that belong together (a job's status and the release of its credits) that leaves the money
half-settled; inside a database call it leaves the connection mid-command ("another command
is already in progress"), so nothing after it can even be written. Inside
`soft_time_limit_deferred()` the signal is only noted; the exception is raised when the section
ends, so the task still stops at once after it.
"""

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

SOFT_TIME_LIMIT_SIGNAL = signal.SIGUSR1  # billiard's pool: `soft_timeout_sighandler`


@contextlib.contextmanager
def soft_time_limit_deferred() -> Iterator[None]:
    """Runs the block to its end even if the soft time limit passes meanwhile, then raises it
    (the signal goes to the handler it was sent for, late: an outer section's, or billiard's).
    A block that raises drops the noted signal: its own exception already ends the task.

    Python runs signal handlers on the main thread only, so a block on any other thread (the
    delivery pool's) cannot be interrupted and needs nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        arrived.append(signum)

    previous = signal.signal(SOFT_TIME_LIMIT_SIGNAL, note)
    try:
        yield
    finally:
        signal.signal(SOFT_TIME_LIMIT_SIGNAL, previous)
    if arrived:
        if callable(previous):
            previous(SOFT_TIME_LIMIT_SIGNAL, None)
        else:
            signal.raise_signal(SOFT_TIME_LIMIT_SIGNAL)  # the default action, or ignored
