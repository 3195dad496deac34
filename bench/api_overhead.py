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
wake-up and the answer. Printed at p50 and p99, in ms and as a share of end to end, then by
part in the order they happen, from wall-clock marks (this machine's one clock) of the client,
the job row's `created_at` (the web's insert) and the worker: its task's start, the pipeline
call's start and end, the delivery on the pool's threads, and the final state's publish. The
image delivery is then shown by its parts, each as the time from the delivery's start to that
part's end (the screening thread's steps, and beside them the NSFW classifier and the image's
bytes): where its critical path runs.
"""

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_TIMES_KEY = "bench:api_overhead:pipeline"


def _instrument_worker() -> None:
    """Times, in the worker, the task, the pipeline call (and the callbacks inside it), each
    job's image delivery (output screening, watermark, storage: on the delivery pool's threads)
    and the publish of its final state, as wall-clock marks the client lines up with its own;
    results go to Redis when the task ends."""
    import json

    import redis

    from generation.inference import operations
    from generation.models import Generation
    from generation.services import worker
    from moderation.images import nsfw
    from moderation.services import image_screening

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    lock = threading.Lock()
    marks: dict[str, dict[str, float]] = {}  # generation id -> mark -> time.time()
    callbacks = threading.local()
    original_run_batch = operations.run_batch
    original_step = worker._Step.__call__
    original_run = worker.generation_run
    original_screen = worker._batch_screen  # a batch's delivery, the first of it on the pool
    original_deliver = worker.image_deliver
    original_publish = worker.progress_publish
    original_outputs_screen = worker.outputs_screen
    original_analyze = image_screening.analyze_images
    original_nsfw = nsfw.nsfw_scores
    original_content = worker._JobDelivery.content
    screening: list[str] = []  # the batch being screened: one request at a time here

    def mark(generation_id: object, name: str, *, first: bool = False) -> None:
        with lock:
            job = marks.setdefault(str(generation_id), {})
            if not (first and name in job):
                job[name] = time.time()

    def timed_step(self, step, total):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return original_step(self, step, total)
        finally:
            callbacks.seconds += time.perf_counter() - started

    def timed_run_batch(**kwargs):  # type: ignore[no-untyped-def]
        ids = [job.pk for job in kwargs["on_step"].jobs]
        callbacks.seconds = 0.0
        for generation_id in ids:
            mark(generation_id, "pipeline_start")
        try:
            return original_run_batch(**kwargs)
        finally:
            for generation_id in ids:
                mark(generation_id, "pipeline_end")
                with lock:
                    marks[str(generation_id)]["callbacks"] = callbacks.seconds

    def timed_screen(deliveries, pooled):  # type: ignore[no-untyped-def]
        screening[:] = [str(delivery.job.pk) for delivery in deliveries]
        for delivery in deliveries:  # on the pool: the batch's rows, bytes and screening
            mark(delivery.job.pk, "deliver_start", first=True)
        return original_screen(deliveries, pooled)

    def timed_deliver(*, image, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return original_deliver(image=image, **kwargs)
        finally:
            mark(image.generation_id, "deliver_end")

    def marked_publish(*, generation_id, status, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return original_publish(generation_id=generation_id, status=status, **kwargs)
        finally:
            if status in Generation.FINAL_STATUSES:
                mark(generation_id, "published")  # what wakes the held request

    def marked_outputs_screen(*, outputs, **kwargs):  # type: ignore[no-untyped-def]
        for generation_id in screening:
            mark(generation_id, "screen_start")
        try:
            return original_outputs_screen(outputs=outputs, **kwargs)
        finally:
            for generation_id in screening:
                mark(generation_id, "screen_end")  # the decisions recorded

    def marked_analyze(*args, **kwargs):  # type: ignore[no-untyped-def]
        for generation_id in screening:
            mark(generation_id, "models_start")
        try:
            return original_analyze(*args, **kwargs)
        finally:
            for generation_id in screening:
                mark(generation_id, "models_end")

    def marked_nsfw(images):  # type: ignore[no-untyped-def]
        try:
            return original_nsfw(images)  # on its helper thread, beside the face models
        finally:
            for generation_id in screening:
                mark(generation_id, "nsfw_end")

    def marked_content(self, image):  # type: ignore[no-untyped-def]
        mark(self.job.pk, "bytes_start", first=True)
        try:
            return original_content(self, image)
        finally:
            mark(self.job.pk, "bytes_end")

    def timed_run(*, generation_id, **kwargs):  # type: ignore[no-untyped-def]
        mark(generation_id, "task_start")
        try:
            return original_run(generation_id=generation_id, **kwargs)
        finally:
            mark(generation_id, "task_end")
            with lock:
                record = marks.pop(str(generation_id), {})
            client.hset(_TIMES_KEY, str(generation_id), json.dumps(record))

    operations.run_batch = timed_run_batch
    worker._Step.__call__ = timed_step  # type: ignore[method-assign]
    worker.generation_run = timed_run
    worker._batch_screen = timed_screen
    worker.image_deliver = timed_deliver
    worker.progress_publish = marked_publish
    worker.outputs_screen = marked_outputs_screen
    image_screening.analyze_images = marked_analyze
    nsfw.nsfw_scores = marked_nsfw
    worker._JobDelivery.content = marked_content  # type: ignore[method-assign]


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

    import openai
    import redis
    from django.core.management import call_command

    from tests.generation.live_server import live_easel_start, unlimited_customer

    call_command("migrate", verbosity=0)
    call_command("c2pa_development_certificate")  # as `make run` does: the worker signs with it
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
            sent = time.time()
            raw = client.images.with_raw_response.generate(
                prompt=f"overhead probe {number}",
                size="256x256",
                response_format=args.response_format,
            )
            raw.parse()
            answered = time.time()
            generation_id = raw.headers["easel-generation-id"]
            marks = _worker_marks(results, generation_id)
            if number >= args.warmup:
                rows.append({"id": generation_id, "sent": sent, "answered": answered, **marks})
    finally:
        live.stop()
        results.delete(_TIMES_KEY)
    _report(rows, response_format=args.response_format)


def _worker_marks(results, generation_id: str) -> dict:  # type: ignore[no-untyped-def]
    """The worker's marks for the job; its task writes them as it returns, which may be just
    after the answer (the job is published as settled before the task's last steps)."""
    import json

    deadline = time.monotonic() + 30
    while (record := results.hget(_TIMES_KEY, generation_id)) is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the worker recorded no marks for {generation_id}")
        time.sleep(0.005)
    return json.loads(record)


def _report(rows: list[dict], *, response_format: str) -> None:
    from generation.models import Generation

    created = dict(
        Generation.objects.filter(pk__in=[row["id"] for row in rows]).values_list(
            "pk", "created_at"
        )
    )
    for row in rows:
        row["created"] = created[uuid.UUID(row["id"])].timestamp()  # the web's insert of the job

    def ms(start: str, end: str) -> list[float]:
        return [(row[end] - row[start]) * 1000 for row in rows]

    e2e = ms("sent", "answered")
    callbacks = [row["callbacks"] * 1000 for row in rows]
    spans = zip(ms("pipeline_start", "pipeline_end"), callbacks, strict=True)
    pipeline = [whole - inside for whole, inside in spans]
    own = [total - pure for total, pure in zip(e2e, pipeline, strict=True)]
    shares = [mine / total for mine, total in zip(own, e2e, strict=True)]

    def line(label: str, values: list[float], unit: str = "ms") -> None:
        if unit == "%":
            p50, p99 = f"{_percentile(values, 0.5):.0%}", f"{_percentile(values, 0.99):.0%}"
        else:
            p50, p99 = f"{_percentile(values, 0.5):.0f} ms", f"{_percentile(values, 0.99):.0f} ms"
        print(f"{label:<38} p50 {p50}, p99 {p99}")

    print(f"requests: {len(rows)} sequential, tiny model, 256x256, n=1, {response_format}")
    line("end to end:", e2e)
    line("pipeline call (without callbacks):", pipeline)
    line("Easel's own time:", own)
    line("Easel's share of end to end:", shares, unit="%")
    print(f"mean share of end to end: {statistics.mean(shares):.0%}")
    # Wall-clock marks of the client, the web's job row and the worker, one machine's clock:
    # the parts add up to end to end (the pipeline's callbacks are inside its span).
    print("Easel's own time, by part (in order):")
    line("  web: request in -> job row:", ms("sent", "created"))
    line("  enqueue, broker pick-up:", ms("created", "task_start"))
    line("  worker: preload, claim, tokens:", ms("task_start", "pipeline_start"))
    line("  worker: step callbacks:", callbacks)
    line("  worker: hand-off to delivery:", ms("pipeline_end", "deliver_start"))
    line("  worker: image delivery:", ms("deliver_start", "deliver_end"))
    line("  worker: settle, publish:", ms("deliver_end", "published"))
    line("  wake-up, answer, client parse:", ms("published", "answered"))
    # Inside the image delivery, from its start: the screening thread's steps in order, and
    # beside them the NSFW classifier (its helper thread) and the image's bytes (another pool
    # thread: marks, encoding, content credentials).
    print("the image delivery, each part's end after its start:")
    line("  the Image row:", ms("deliver_start", "screen_start"))
    line("  the screening models (NSFW, faces):", ms("deliver_start", "models_end"))
    line("    of which the NSFW classifier:", ms("deliver_start", "nsfw_end"))
    line("  the decision recorded:", ms("deliver_start", "screen_end"))
    line("  the image's bytes (beside them):", ms("deliver_start", "bytes_end"))
    line("  stored: the delivery's end:", ms("deliver_start", "deliver_end"))


if __name__ == "__main__":
    main()
