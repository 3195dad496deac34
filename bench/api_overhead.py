"""Easel's own time per OpenAI-style request: everything except the pipeline call.

    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/api_overhead.py [--requests 40]

A live Easel (uvicorn serving config.asgi, one real Celery worker, PostgreSQL, Redis) answers
`client.images.generate(...)` from the official `openai` client, one request at a time, with the
tiny model at 256x256. The client times each request end to end. The worker is Easel's own,
started from this file so it can time the pipeline call itself (diffusers, in
`generation.inference.operations.run_batch`) and, inside it, Easel's per-step callback (progress,
heartbeat and cancel checks), which counts as Easel's time. Easel's time = end to end - (pipeline
call - callbacks): authentication, validation, rate limits, screening, the credit reservation,
queueing, the worker's claim, output screening, watermarking, storage, settlement, the pub/sub
wake-up and the answer. Printed at p50 and p99, in ms and as a share of end to end.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_TIMES_KEY = "bench:api_overhead:pipeline"


def _instrument_worker() -> None:
    """Times the pipeline call and the callbacks inside it; results go to Redis by prompt."""
    import json

    import redis

    from generation.inference import operations
    from generation.services import worker

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    callbacks = threading.local()
    original_run_batch = operations.run_batch
    original_step = worker._Step.__call__

    def timed_step(self, step, total):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return original_step(self, step, total)
        finally:
            callbacks.seconds = getattr(callbacks, "seconds", 0.0) + time.perf_counter() - started

    def timed_run_batch(**kwargs):  # type: ignore[no-untyped-def]
        callbacks.seconds = 0.0
        started = time.perf_counter()
        try:
            return original_run_batch(**kwargs)
        finally:
            total = time.perf_counter() - started
            for job in kwargs["jobs"]:
                client.hset(_TIMES_KEY, job.prompt, json.dumps([total, callbacks.seconds]))

    operations.run_batch = timed_run_batch
    worker._Step.__call__ = timed_step


if os.environ.get("EASEL_BENCH_WORKER") == "1":  # imported by `celery -A bench.api_overhead`
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    from config.celery import app  # noqa: F401 - what `celery -A` looks for

    _instrument_worker()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--response-format", default="url", choices=["url", "b64_json"])
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get(
        "REDIS_URL"
    ):
        sys.exit("api_overhead.py needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    import django

    django.setup()
    import json

    import openai
    import redis
    from django.core.management import call_command

    from tests.generation.live_server import live_easel_start, unlimited_customer

    call_command("migrate", verbosity=0)
    _, secret = unlimited_customer()
    results = redis.Redis.from_url(os.environ["REDIS_URL"])
    results.delete(_TIMES_KEY)
    live = live_easel_start(
        database_url=os.environ["DATABASE_URL"],
        redis_url=os.environ["REDIS_URL"],
        settings_module="config.settings.local",
        worker_app="bench.api_overhead",
        extra_env={"EASEL_BENCH_WORKER": "1", "PYTHONPATH": str(ROOT), "DEBUG": "false"},
    )
    client = openai.OpenAI(
        api_key=secret, base_url=f"{live.base_url}/v1", max_retries=0, timeout=300
    )
    rows = []
    try:
        for number in range(args.warmup + args.requests):
            prompt = f"overhead probe {number} {time.time_ns()}"
            started = time.perf_counter()
            client.images.generate(
                prompt=prompt, size="256x256", response_format=args.response_format
            )
            end_to_end = time.perf_counter() - started
            pipeline, callbacks = json.loads(results.hget(_TIMES_KEY, prompt))
            if number >= args.warmup:
                rows.append((end_to_end, pipeline - callbacks))
    finally:
        live.stop()
        results.delete(_TIMES_KEY)

    own = [(e2e - pipeline) * 1000 for e2e, pipeline in rows]
    shares = [(e2e - pipeline) / e2e for e2e, pipeline in rows]
    e2e_ms = [e2e * 1000 for e2e, _ in rows]
    pipeline_ms = [pipeline * 1000 for _, pipeline in rows]

    def line(label: str, values: list[float], unit: str = "ms") -> None:
        if unit == "%":
            p50, p99 = f"{_percentile(values, 0.5):.0%}", f"{_percentile(values, 0.99):.0%}"
        else:
            p50, p99 = f"{_percentile(values, 0.5):.0f} ms", f"{_percentile(values, 0.99):.0f} ms"
        print(f"{label:<22} p50 {p50}, p99 {p99}")

    print(f"requests: {len(rows)} sequential, tiny model, 256x256, n=1, {args.response_format}")
    line("end to end:", e2e_ms)
    line("pipeline call:", pipeline_ms)
    line("Easel's own time:", own)
    line("share of end to end:", shares, unit="%")
    print(f"mean share of end to end: {statistics.mean(shares):.0%}")


if __name__ == "__main__":
    main()
