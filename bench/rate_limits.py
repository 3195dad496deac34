"""How fast `rate_limit_consume` is: per-call latency and calls per second across processes.

    REDIS_URL=redis://127.0.0.1:6379/1 .venv/bin/python bench/rate_limits.py
    .venv/bin/python bench/rate_limits.py --processes 4 --calls 2000

Runs the real service against both counters: Redis (the Lua script; when REDIS_URL is set)
and the embedded file cache under its machine-wide lock (in a temporary folder). No database:
the user and tier are built in memory with limits high enough that no call is refused, so
every call does the full read-check-write. Each process uses its own account, as real traffic
from many users would.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.accounts.worker_settings")


def _run(args: tuple[str, int, int]) -> tuple[list[float], float]:
    counter, user_id, calls = args
    if counter == "local":
        os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.conf import settings

    from accounts.models import Tier, User
    from accounts.services.rate_limits import rate_limit_consume

    if counter == "local":
        settings.REDIS_URL = ""
    tier = Tier(
        name="bench", display_name="Bench", requests_per_minute=10**9, images_per_minute=10**9
    )
    user = User(pk=user_id, email="bench@example.com", tier=tier)
    timings = []
    loop_started = time.perf_counter()
    for _ in range(calls):
        started = time.perf_counter()
        rate_limit_consume(user=user, api_key=None, requests=1, images=1)
        timings.append(time.perf_counter() - started)
    return timings, time.perf_counter() - loop_started


def bench(counter: str, processes: int, calls: int) -> None:
    with Pool(processes) as pool:
        results = pool.map(_run, [(counter, 700_000 + i, calls) for i in range(processes)])
    elapsed = max(loop for _, loop in results)  # the slowest process's loop, start-up excluded
    timings = sorted(t for result, _ in results for t in result)
    p50 = statistics.median(timings) * 1000
    p99 = timings[int(len(timings) * 0.99)] * 1000
    print(
        f"{counter:5} processes={processes} calls={len(timings)} "
        f"throughput={len(timings) / elapsed:,.0f}/s p50={p50:.3f}ms p99={p99:.3f}ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    os.environ["EASEL_TEST_CACHE_DIR"] = tempfile.mkdtemp(prefix="easel-bench-cache-")
    counters = (["redis"] if os.environ.get("REDIS_URL") else []) + ["local"]
    for counter in counters:
        for processes in sorted({1, args.processes}):
            bench(counter, processes, args.calls)


if __name__ == "__main__":
    main()
