"""Celery tasks of generation: thin, they take ids and call one service (STYLE.md).

`generation.run` is the GPU task: at-least-once (`acks_late`, `reject_on_worker_lost`: a worker
killed mid-job gets its message redelivered), idempotent (services/worker.py), with soft and hard
time limits from settings. It is queued on `gpu` at the tier's lane priority
(services/generations.py, LANE_PRIORITY); `generation.lanes_promote` and `generation.stale_sweep`
are periodic housekeeping on the default queue.
"""

from celery import shared_task
from django.conf import settings

from common.queues import Queue


@shared_task(
    name="generation.run",
    queue=Queue.GPU,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.EASEL_GENERATION_SOFT_TIME_LIMIT,
    time_limit=settings.EASEL_GENERATION_HARD_TIME_LIMIT,
)
def generation_run_task(generation_id: str) -> None:
    from generation.services.worker import generation_run

    generation_run(generation_id=generation_id)


@shared_task(name="generation.lanes_promote", queue=Queue.DEFAULT, ignore_result=True,
             soft_time_limit=60, time_limit=90)
def generation_lanes_promote_task() -> None:
    from generation.services.generations import lanes_promote

    lanes_promote()


@shared_task(name="generation.stale_sweep", queue=Queue.DEFAULT, ignore_result=True,
             soft_time_limit=60, time_limit=90)
def generation_stale_sweep_task() -> None:
    from generation.services.worker import stale_sweep

    stale_sweep()
