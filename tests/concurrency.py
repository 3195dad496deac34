"""Races for the concurrency tests: calls released at once, each on its own database connection."""

import threading
from collections.abc import Callable


def run_concurrently(
    calls: list[Callable[[], object]], *, join_timeout: float | None = None
) -> list[object]:
    """Run each call in its own thread (so its own database connection), all released at once
    by a barrier; return each result or the exception it raised, in order. `join_timeout`
    bounds the wait for each thread (None: wait until it ends)."""
    from django.db import connection

    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def worker(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread got
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=join_timeout)
    return results
