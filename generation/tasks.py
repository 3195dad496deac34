"""Celery tasks of generation: thin, they take ids and call one service (docs/architecture.md).

`generation.run` is the GPU task: at-least-once (`acks_late`, `reject_on_worker_lost`: a worker
killed mid-job gets its message redelivered), idempotent (services/worker.py), with soft and hard
time limits from settings. It is sent to its model's GPU queue (`gpu` by default) at the tier's
lane priority by services/generations.py (generation_enqueue, common.queues.lane_priority);
`generation.lanes_promote`, `generation.jobs_resend` (services/outbox.py) and
`generation.stale_sweep` are periodic housekeeping on the default queue.

The tasks import their services inside the task body: the services import this module (to send
`generation_run_task`), so a top-level import would be a cycle.
"""

import time

from celery import shared_task
from celery.signals import worker_init
from django.conf import settings

from generation.inference.registry import gpu_queues
from generation.services.quarantine import quarantine_purge


@shared_task(
    name="generation.run",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=settings.EASEL_GENERATION_SOFT_TIME_LIMIT,
    time_limit=settings.EASEL_GENERATION_HARD_TIME_LIMIT,
    # Looking again while another host holds the job has no count limit (the holder's lease
    # bounds each wait). `retry(max_retries=None)` would mean the task's default of 3, after
    # which the copy is dropped while its holder may still die.
    max_retries=None,
)
def generation_run_task(self, generation_id: str) -> None:  # type: ignore[no-untyped-def]
    from generation.services.worker import HeldElsewhere, generation_run

    # A per-call limit (apply_async(soft_time_limit=...)) arrives in the request; else the task's.
    soft_limit = (self.request.timelimit or (None, None))[1] or self.soft_time_limit
    deadline = time.monotonic() + soft_limit if soft_limit else None
    try:
        generation_run(generation_id=generation_id, deadline=deadline)
    except HeldElsewhere as held:
        # A worker on another machine holds it: if that machine dies, this copy takes over.
        raise self.retry(countdown=held.retry_in) from None


@shared_task(name="generation.lanes_promote", ignore_result=True, soft_time_limit=60, time_limit=90)
def generation_lanes_promote_task() -> None:
    from generation.services.generations import lanes_promote

    lanes_promote()


@shared_task(name="generation.jobs_resend", ignore_result=True, soft_time_limit=60, time_limit=90)
def generation_jobs_resend_task() -> None:
    from generation.services.outbox import generations_resend

    generations_resend()


@shared_task(name="generation.stale_sweep", ignore_result=True, soft_time_limit=60, time_limit=90)
def generation_stale_sweep_task() -> None:
    from generation.services.worker import stale_sweep

    stale_sweep()


@shared_task(
    name="generation.quarantine_purge", ignore_result=True, soft_time_limit=600, time_limit=660
)
def generation_quarantine_purge_task() -> None:
    quarantine_purge()


@shared_task(
    name="generation.cdn_purge",
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=5,
    retry_backoff_max=300,
    max_retries=8,
    soft_time_limit=60,
    time_limit=90,
)
def cdn_purge(*, urls: list[str], tags: list[str]) -> None:
    """Tells the CDN in front to drop copies of a taken-down image (retried while it fails)."""
    from generation.services.cdn import cdn_purge_now

    cdn_purge_now(urls=urls, tags=tags)


@worker_init.connect
def _preload_inference_libraries(sender=None, **_: object) -> None:  # type: ignore[no-untyped-def]
    """A GPU worker's parent imports torch and diffusers once, before forking its children.

    Importing touches no CUDA state (only a call like torch.cuda.is_available() would), so the
    children still initialise the GPU themselves. Without this, each child imports them inside
    its first job, where a soft time limit can interrupt the import and leave torch half-loaded
    in that process for every later job.
    """
    consumed = set(
        getattr(getattr(sender, "app", None) and sender.app.amqp.queues, "consume_from", None) or {}
    )
    if consumed and not consumed & gpu_queues():
        return  # a CPU-only worker
    import torch  # noqa: F401
    from diffusers import (  # noqa: F401  (diffusers imports lazily: name what jobs use)
        AutoencoderKL,
        AutoPipelineForText2Image,
        StableDiffusionImg2ImgPipeline,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTokenizer  # noqa: F401

    from generation.inference import operations, pipelines, tiny  # noqa: F401
