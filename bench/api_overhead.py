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
    """Times, in the worker, the pipeline call (and the callbacks inside it), the whole task and
    the delivery of images (output screening, watermark, storage); results go to Redis."""
    import json

    import redis

    from generation.inference import operations
    from generation.services import worker

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    spans = threading.local()
    original_run_batch = operations.run_batch
    original_step = worker._Step.__call__
    original_run = worker.generation_run
    original_deliver = worker.image_deliver
    original_screen = worker.outputs_screen  # a batch's screening, before each image's delivery

    def timed(function, name):  # type: ignore[no-untyped-def]
        def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                setattr(spans, name, getattr(spans, name, 0.0) + time.perf_counter() - started)

        return wrapper

    def timed_run_batch(**kwargs):  # type: ignore[no-untyped-def]
        spans.callbacks = 0.0
        started = time.perf_counter()
        try:
            return original_run_batch(**kwargs)
        finally:
            spans.pipeline = time.perf_counter() - started

    def timed_run(*, generation_id, **kwargs):  # type: ignore[no-untyped-def]
        spans.pipeline = spans.callbacks = spans.deliver = 0.0
        started = time.perf_counter()
        try:
            return original_run(generation_id=generation_id, **kwargs)
        finally:
            record = {
                "task": time.perf_counter() - started,
                "pipeline": spans.pipeline,
                "callbacks": spans.callbacks,
                "deliver": spans.deliver,
            }
            client.hset(_TIMES_KEY, str(generation_id), json.dumps(record))

    operations.run_batch = timed_run_batch
    worker._Step.__call__ = timed(original_step, "callbacks")  # type: ignore[method-assign]
    worker.generation_run = timed_run
    worker.image_deliver = timed(original_deliver, "deliver")
    worker.outputs_screen = timed(original_screen, "deliver")


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
            started = time.perf_counter()
            raw = client.images.with_raw_response.generate(
                prompt=f"overhead probe {number}",
                size="256x256",
                response_format=args.response_format,
            )
            raw.parse()
            end_to_end = time.perf_counter() - started
            spans = json.loads(results.hget(_TIMES_KEY, raw.headers["easel-generation-id"]) or "{}")
            if number >= args.warmup:
                rows.append({"e2e": end_to_end, **spans})
    finally:
        live.stop()
        results.delete(_TIMES_KEY)

    def pure_pipeline(row: dict) -> float:
        return row["pipeline"] - row["callbacks"]

    e2e_ms = [row["e2e"] * 1000 for row in rows]
    pipeline_ms = [pure_pipeline(row) * 1000 for row in rows]
    own = [(row["e2e"] - pure_pipeline(row)) * 1000 for row in rows]
    shares = [(row["e2e"] - pure_pipeline(row)) / row["e2e"] for row in rows]
    # Where Easel's time goes: the web side (validation, screening, reservation, enqueue,
    # broker pick-up, wake-up, answer) is everything outside the worker's task.
    outside_task = [(row["e2e"] - row["task"]) * 1000 for row in rows]
    deliver = [row["deliver"] * 1000 for row in rows]
    callbacks = [row["callbacks"] * 1000 for row in rows]
    task_rest = [(row["task"] - row["pipeline"] - row["deliver"]) * 1000 for row in rows]

    def line(label: str, values: list[float], unit: str = "ms") -> None:
        if unit == "%":
            p50, p99 = f"{_percentile(values, 0.5):.0%}", f"{_percentile(values, 0.99):.0%}"
        else:
            p50, p99 = f"{_percentile(values, 0.5):.0f} ms", f"{_percentile(values, 0.99):.0f} ms"
        print(f"{label:<34} p50 {p50}, p99 {p99}")

    print(f"requests: {len(rows)} sequential, tiny model, 256x256, n=1, {args.response_format}")
    line("end to end:", e2e_ms)
    line("pipeline call (without callbacks):", pipeline_ms)
    line("Easel's own time:", own)
    line("Easel's share of end to end:", shares, unit="%")
    print(f"mean share of end to end: {statistics.mean(shares):.0%}")
    print("Easel's own time, by part:")
    line("  web, queue, wake-up, answer:", outside_task)
    line("  worker: step callbacks:", callbacks)
    line("  worker: image delivery:", deliver)
    line("  worker: claim, load, settle:", task_rest)


if __name__ == "__main__":
    main()
