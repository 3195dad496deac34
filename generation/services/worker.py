"""What a GPU worker does with one delivered task: claim, batch, run, deliver, settle.

At-least-once delivery means this may run twice for one job (a redelivery after a worker died,
a duplicate message). Every step is idempotent, keyed by the generation:
- the claim is a conditional QUEUED -> RUNNING update; a RUNNING row is re-claimed only when the
  worker holding it is gone (its process no longer exists, or its heartbeat is older than the
  lease), and every claim counts an attempt, capped by EASEL_GENERATION_MAX_ATTEMPTS;
- Image rows are unique per (generation, index) and files go to fixed keys, so a rerun
  overwrites; output screening is idempotent per image id;
- capture and release are idempotent per generation (billing), and the final status is written
  only by the worker holding the claim.

`generation.inference` (torch, diffusers) is imported inside the functions that run a model:
the web process imports this module's neighbours but never loads a pipeline, and keeps its
start time and memory free of them.
"""

import base64
import contextlib
import functools
import io
import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image as PILImage

from billing.selectors import image_price
from billing.services.credits import credits_capture, credits_release
from common import metrics
from common.celery_worker import worker_draining
from common.time_limits import soft_time_limit_deferred
from generation.models import Generation, Image
from generation.provenance.delivery import delivered_image
from generation.services.cancels import cancel_flags
from generation.services.deliveries import (
    deliveries_pooled,
    deliveries_stop,
    deliveries_wait,
    delivery_submit,
    pipelining,
)
from generation.services.generations import _inputs_delete
from generation.services.image_options import INPUT_FIDELITY_STRENGTH, preview_steps
from generation.services.progress import progress_publish
from generation.services.quarantine import quarantine_store
from generation.services.storage import image_key, storage_read, storage_write
from generation.services.throughput import throughput_publish
from generation.services.webhooks import webhook_event_emit_on_commit
from moderation.images.analysis import nsfw_scoring_start
from moderation.services.image_screening import OutputImage, outputs_screen
from moderation.verdicts import Verdict

logger = logging.getLogger(__name__)

_HEARTBEAT_EVERY_SECONDS = 1.0


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _holder_gone(generation: Generation, *, now) -> bool:  # type: ignore[no-untyped-def]
    """True when the worker that claimed this RUNNING row cannot still be running it."""
    lease = timedelta(seconds=settings.EASEL_GENERATION_LEASE_SECONDS)
    if generation.heartbeat_at is None or generation.heartbeat_at < now - lease:
        return True
    host, _, pid_text = generation.worker_id.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False  # another machine, heartbeat fresh: it is alive
    pid = int(pid_text)
    if pid == os.getpid():
        return True  # this very process, which runs one job at a time: its earlier run is over
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True  # killed (SIGKILL, OOM): Celery redelivered its message to us
    except PermissionError:
        return False
    return False


class HeldElsewhere(Exception):
    """A live worker on another machine holds the job: look again once its lease could lapse."""

    def __init__(self, retry_in: float) -> None:
        super().__init__(f"held elsewhere; look again in {retry_in:.0f} s")
        self.retry_in = retry_in


@dataclass
class Claim:
    generation: Generation | None
    taken_from: str = ""  # the dead holder's worker_id, when this claim took over a RUNNING row
    retry_in: float | None = None  # set when a live worker on another machine holds it


def _claim_values(worker_id: str, now) -> dict:  # type: ignore[no-untyped-def]
    return {
        "status": Generation.Status.RUNNING,
        "worker_id": worker_id,
        "heartbeat_at": now,
        "attempts": F("attempts") + 1,
    }


def _held(generation_id: uuid.UUID | str) -> Generation:
    """A job just claimed, with its owner and tier: the queue-wait metric and output screening
    read them, so they come in the same query."""
    return Generation.objects.select_related("user__tier").get(pk=generation_id)


def _claim(*, generation_id: uuid.UUID | str, worker_id: str) -> Claim:
    now = timezone.now()
    if Generation.objects.filter(pk=generation_id, status=Generation.Status.QUEUED).update(
        started_at=now, **_claim_values(worker_id, now)
    ):
        return Claim(_held(generation_id))
    current = Generation.objects.filter(pk=generation_id).first()
    if current is None or current.status != Generation.Status.RUNNING:
        return Claim(None)
    if not _holder_gone(current, now=now):
        host = current.worker_id.rpartition(":")[0]
        if host == socket.gethostname() or current.heartbeat_at is None:
            return Claim(None)  # a live process here holds it; it settles the job
        lease = timedelta(seconds=settings.EASEL_GENERATION_LEASE_SECONDS)
        return Claim(None, retry_in=(current.heartbeat_at + lease - now).total_seconds() + 1)
    # Conditional on the holder we judged dead, so two redeliveries cannot both take it over.
    taken = Generation.objects.filter(
        pk=generation_id,
        status=Generation.Status.RUNNING,
        worker_id=current.worker_id,
        heartbeat_at=current.heartbeat_at,
    ).update(**_claim_values(worker_id, now))
    if not taken:
        return Claim(None)
    logger.warning("re-claimed generation %s from %s", generation_id, current.worker_id)
    return Claim(_held(generation_id), taken_from=current.worker_id)


def generation_claim(*, generation_id: uuid.UUID | str, worker_id: str) -> Generation | None:
    """The job, now held by `worker_id`; None when it is not this delivery's to run."""
    return _claim(generation_id=generation_id, worker_id=worker_id).generation


# Jobs that agree on these share one pipeline call (the output format and background are the
# delivery's, so they do not split a batch). A job with references runs alone (`_runs_alone`);
# `reference_count` here keeps the others among themselves.
BATCH_FIELDS = (
    "model",
    "operation",
    "width",
    "height",
    "steps",
    "guidance_scale",
    "input_fidelity",
    "reference_count",
)


def _runs_alone(job: Generation) -> bool:
    """diffusers takes one set of reference images per pipeline call (inference/references.py)."""
    return job.reference_count > 0


def _compatible(job: Generation, primary: Generation) -> bool:
    if job.pk != primary.pk and (_runs_alone(job) or _runs_alone(primary)):
        return False
    return all(getattr(job, name) == getattr(primary, name) for name in BATCH_FIELDS)


def _orphans_reclaim(
    *, dead_worker_id: str, worker_id: str, primary: Generation
) -> list[Generation]:
    """The other jobs of the dead worker's batch: their own messages were already consumed (they
    found the job held), so whoever takes over the batch's first job takes them over too."""
    now = timezone.now()
    orphans = []
    held = Generation.objects.filter(
        status=Generation.Status.RUNNING, worker_id=dead_worker_id
    ).exclude(pk=primary.pk)
    for job in held:
        if not _compatible(job, primary):
            continue
        if Generation.objects.filter(
            pk=job.pk, status=Generation.Status.RUNNING, worker_id=dead_worker_id
        ).update(**_claim_values(worker_id, now)):
            orphans.append(_held(job.pk))
    return orphans


class _Seen(NamedTuple):
    """A job's model, status and holder, read before anything else is done for its message."""

    model: str
    status: str
    holder: str  # the worker_id that claimed it last ("" if none ever did)


def _seen(generation_id: uuid.UUID | str) -> _Seen | None:
    found = (
        Generation.objects.filter(pk=generation_id)
        .values_list("model", "status", "worker_id")
        .first()
    )
    return _Seen(*found) if found is not None else None


def _may_have_work(seen: _Seen, *, worker_id: str) -> bool:
    """Whether a message for this job may have work to do: a live job (queued or running), or
    a final one another worker settled, which may have died holding later batches of that same
    task (`_orphans_of_settled`). A final job this worker settled holds none: it runs one task
    at a time, and its earlier task is over; one never claimed (canceled in the queue) held
    nothing."""
    return seen.status in Generation.LIVE_STATUSES or seen.holder not in ("", worker_id)


def _orphans_of_settled(*, generation_id: uuid.UUID | str, worker_id: str) -> list[Generation]:
    """A redelivered job that is already final: its worker may have died later in the same
    task, holding the batches it took after it (pipelining). Those whose holder is gone are
    taken over here, since their own messages may have been consumed while it lived."""
    settled = _seen(generation_id)
    if settled is None or settled.status in Generation.LIVE_STATUSES:
        return []
    if not _may_have_work(settled, worker_id=worker_id):
        return []  # settled here, or never claimed: no batch of that task is still held
    now = timezone.now()
    taken = []
    for job in Generation.objects.filter(
        status=Generation.Status.RUNNING, worker_id=settled.holder
    ):
        if not _holder_gone(job, now=now):
            return []  # the same holder, alive: it settles its own jobs
        if Generation.objects.filter(
            pk=job.pk,
            status=Generation.Status.RUNNING,
            worker_id=job.worker_id,
            heartbeat_at=job.heartbeat_at,
        ).update(**_claim_values(worker_id, now)):
            logger.warning("re-claimed generation %s from %s", job.pk, job.worker_id)
            taken.append(_held(job.pk))
    # One batch shape per pipeline call: the first job's; the others wait for their messages
    # or for the stale sweep.
    return [job for job in taken if _compatible(job, taken[0])] if taken else []


def _batch_mates(*, primary: Generation, worker_id: str, room: int) -> list[Generation]:
    """Other queued jobs that can share the pipeline call, highest lane and oldest first."""
    if room <= 0 or _runs_alone(primary):
        return []
    candidates = (
        Generation.objects.filter(
            status=Generation.Status.QUEUED,
            cancel_requested=False,
            n__lte=room,
            **{name: getattr(primary, name) for name in BATCH_FIELDS},
        )
        .order_by("-queue_lane", "created_at")
        .values_list("pk", "n")[:32]
    )
    mates = []
    for generation_id, n in candidates:
        if n > room:
            continue
        claimed = generation_claim(generation_id=generation_id, worker_id=worker_id)
        if claimed is not None and claimed.status == Generation.Status.RUNNING:
            mates.append(claimed)
            room -= n
        if room <= 0:
            break
    return mates


class DeadlineExceeded(Exception):
    """The task's soft time limit passed; checked between steps as well as by Celery's signal,
    because the signal can land inside library code that swallows exceptions (an import)."""


@dataclass
class _Step:
    """Deadline, cancel and progress between denoising steps, for a batch. No database query per
    step: cancels arrive through the cache, and the heartbeat (which reads the recorded cancels
    too) is written once a second, counted from the claim that just wrote one. A job done
    within the second has no beat: the claim's is fresh, `_batch_deliver` reads the recorded
    cancels, and listeners follow its steps through `progress_publish`."""

    jobs: list[Generation]
    worker_id: str
    deadline: float | None = None  # time.monotonic() value
    last_beat: float = field(default_factory=time.monotonic)  # the claim's heartbeat
    canceled: set[str] = field(default_factory=set)

    def __call__(self, step: int, total: int) -> bool:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise DeadlineExceeded()
        ids = [job.pk for job in self.jobs]
        if time.monotonic() - self.last_beat >= _HEARTBEAT_EVERY_SECONDS:
            self.last_beat = time.monotonic()
            self.canceled |= _heartbeat(ids=ids, worker_id=self.worker_id, step=step, total=total)
        self.canceled |= cancel_flags(generation_ids=ids)
        for job in self.jobs:
            if str(job.pk) not in self.canceled:
                progress_publish(
                    generation_id=job.pk, status=Generation.Status.RUNNING, step=step, total=total
                )
        return len(self.canceled) < len(ids)  # stop only when nobody in the batch still wants it


def _heartbeat(*, ids: list, worker_id: str, step: int, total: int) -> set[str]:
    """Tells the database this worker still runs these jobs; returns those whose cancel it
    records (the record, in case the cache lost a flag)."""
    Generation.objects.filter(pk__in=ids, worker_id=worker_id).update(
        heartbeat_at=timezone.now(), progress_step=step, progress_total=total
    )
    return {
        str(pk)
        for pk in Generation.objects.filter(pk__in=ids, cancel_requested=True).values_list(
            "pk", flat=True
        )
    }


@dataclass
class _PreviewPublish:
    """Streams a preview of each job's first image to its listeners (generation.api.openai),
    for the jobs that asked for partial images, up to their number."""

    jobs: list[Generation]
    sent: dict[uuid.UUID, int] = field(default_factory=dict)

    def __call__(self, step: int, pictures: list[PILImage.Image]) -> None:
        position = 0
        for job in self.jobs:
            index = self.sent.get(job.pk, 0)
            if index < job.partial_images:
                preview = io.BytesIO()
                pictures[position].save(preview, format="PNG")
                progress_publish(
                    generation_id=job.pk,
                    status=Generation.Status.RUNNING,
                    step=step,
                    total=job.steps,
                    partial_image={
                        "index": index,
                        "b64_json": base64.b64encode(preview.getvalue()).decode(),
                    },
                )
                self.sent[job.pk] = index + 1
            position += job.n


def generation_run(
    *, generation_id: uuid.UUID | str, worker_id: str | None = None, deadline: float | None = None
) -> list[str]:
    """Runs one delivered job (and compatible queued ones with it). Returns the ids it settled.

    `deadline` (a time.monotonic() value) is the task's soft time limit.
    """
    worker_id = worker_id or worker_identity()
    seen = _seen(generation_id)
    if seen is None or not _may_have_work(seen, worker_id=worker_id):
        # The common redelivery: a batch mate's message, its job settled by this very worker.
        logger.info("generation %s: nothing to do (final)", generation_id)
        return []
    if seen.status in Generation.LIVE_STATUSES:
        _model_preload(model_id=seen.model)
    claim = _claim(generation_id=generation_id, worker_id=worker_id)
    if claim.retry_in is not None:
        raise HeldElsewhere(claim.retry_in)
    primary = claim.generation
    jobs = [primary] if primary is not None else []
    if claim.taken_from:
        jobs += _orphans_reclaim(
            dead_worker_id=claim.taken_from, worker_id=worker_id, primary=jobs[0]
        )
    elif primary is None:
        jobs = _orphans_of_settled(generation_id=generation_id, worker_id=worker_id)
    if not jobs:
        logger.info("generation %s: nothing to do (claimed elsewhere or final)", generation_id)
        return []
    over_cap = [job for job in jobs if job.attempts > settings.EASEL_GENERATION_MAX_ATTEMPTS]
    for job in over_cap:
        generation_fail(
            generation=job,
            worker_id=worker_id,
            message=(
                f"The job stopped its worker {job.attempts - 1} times "
                "and was not retried again. No credits were charged."
            ),
        )
    jobs = [job for job in jobs if job not in over_cap]
    if not jobs:
        return [str(job.pk) for job in over_cap]
    room = settings.EASEL_BATCH_MAX_IMAGES - sum(job.n for job in jobs)
    # Draining (SIGTERM): finish what this delivery holds, take no queued job with it.
    jobs += _batch_mates(
        primary=jobs[0], worker_id=worker_id, room=0 if worker_draining() else room
    )
    held = _batches_run(jobs=jobs, worker_id=worker_id, deadline=deadline)
    return [str(job.pk) for job in held + over_cap]


def _batches_run(
    *, jobs: list[Generation], worker_id: str, deadline: float | None
) -> list[Generation]:
    """Runs the batch, then (pipelining) keeps taking compatible queued batches while the last
    one is delivered beside it. Returns every job it held."""
    from generation.inference.pipelines import pipeline_get

    pooled = deliveries_pooled()
    held: list[Generation] = []
    pending: list[Future] = []
    try:
        while jobs:
            held += jobs
            metrics.jobs_started(jobs=jobs)
            started = time.monotonic()
            try:
                outputs, seconds = _batch_generate(
                    jobs=jobs, worker_id=worker_id, deadline=deadline
                )
            except Exception as error:
                _batch_fail(jobs=jobs, worker_id=worker_id, error=error)
                break
            pending += _batch_deliver(
                jobs=jobs, outputs=outputs, worker_id=worker_id, pooled=pooled
            )
            # After the hand-off: the rate serves queue estimates; the delivery, the waiting.
            throughput_publish(
                worker_id=worker_id, images=sum(job.n for job in jobs), seconds=seconds
            )
            device = pipeline_get(model_id=jobs[0].model).device  # loaded: it just ran
            jobs = (
                _next_batch(
                    primary=jobs[0],
                    worker_id=worker_id,
                    deadline=deadline,
                    batch_seconds=time.monotonic() - started,
                )
                if pooled and pipelining(device=device)
                else []
            )
        deliveries_wait(pending)
    except (SoftTimeLimitExceeded, DeadlineExceeded) as error:
        # Out of time while delivering: the deliveries running on the pool end first (one may be
        # settling its job), then whatever is not settled fails (the conditional updates leave
        # the settled ones alone).
        deliveries_stop(pending)
        _batch_fail(jobs=held, worker_id=worker_id, error=error)
    return held


def _batch_fail(*, jobs: list[Generation], worker_id: str, error: Exception) -> None:
    """Settles a batch whose pipeline call stopped: canceled, or failed with the reason."""

    from generation.inference.operations import BatchCanceled
    from generation.inference.pipelines import ModelUnavailable

    if isinstance(error, BatchCanceled):
        for job in jobs:
            generation_settle(generation=job, worker_id=worker_id, delivered=[], canceled=True)
        return
    if isinstance(error, ModelUnavailable):
        for job in jobs:
            generation_fail(
                generation=job,
                worker_id=worker_id,
                message=(
                    f"The model '{job.model}' is not available on the GPU workers right now. "
                    "No credits were charged."
                ),
                log_detail=str(error),
            )
        return
    if isinstance(error, SoftTimeLimitExceeded | DeadlineExceeded):
        message = "The job ran past its time limit and was stopped. No credits were charged."
        for job in jobs:
            generation_fail(generation=job, worker_id=worker_id, message=message)
        return
    logger.error(
        "generation batch %s failed",
        [str(job.pk) for job in jobs],
        exc_info=(type(error), error, error.__traceback__),
    )
    for job in jobs:
        generation_fail(
            generation=job,
            worker_id=worker_id,
            message="The job failed on the GPU worker. No credits were charged.",
            log_detail=f"{type(error).__name__}: {error}",
        )


def _next_batch(
    *, primary: Generation, worker_id: str, deadline: float | None, batch_seconds: float
) -> list[Generation]:
    """The next compatible queued batch, taken while the last one is delivered. None when the
    queue's most urgent job for this model needs another batch shape (its own message brings a
    worker to it; taking lesser jobs first would pass it over), when draining, or when the time
    limit leaves no room to run and deliver one more."""
    if worker_draining():
        return []
    if deadline is not None and time.monotonic() + 3 * batch_seconds > deadline:
        return []
    urgent = (
        Generation.objects.filter(
            status=Generation.Status.QUEUED, cancel_requested=False, model=primary.model
        )
        .order_by("-queue_lane", "created_at")
        .first()
    )
    if urgent is None or not _compatible(urgent, primary):
        return []
    return _batch_mates(primary=primary, worker_id=worker_id, room=settings.EASEL_BATCH_MAX_IMAGES)


def _model_preload(*, model_id: str) -> None:
    """Loads the job's model before claiming it, so a claim's heartbeat is never stale while a
    large model loads. A model that cannot load fails the job after the claim."""
    from generation.inference.pipelines import ModelUnavailable, pipeline_get

    with contextlib.suppress(ModelUnavailable):
        pipeline_get(model_id=model_id)


def _stored_picture(key: str) -> PILImage.Image:
    return PILImage.open(io.BytesIO(storage_read(key=key))).convert("RGBA")


def _stored_or_none(key: str) -> PILImage.Image | None:
    return _stored_picture(key) if key else None


def _batch_generate(
    *, jobs: list[Generation], worker_id: str, deadline: float | None
) -> tuple[list, float]:
    """One pipeline call for the batch; each BatchJob's `images` holds its pictures (their
    backgrounds cut out for jobs that asked for a transparent one). With the call's seconds."""
    from generation.inference.background import backgrounds_remove
    from generation.inference.operations import BatchJob, prompt_tokens, run_batch

    batch = []
    for job in jobs:
        batch.append(
            BatchJob(
                prompt=job.prompt,
                seeds=[job.seed + i for i in range(job.n)],
                init_image=_stored_or_none(job.input_image_key),
                mask=_stored_or_none(job.input_mask_key),
                references=[_stored_picture(key) for key in job.input_reference_keys],
            )
        )
    for job in jobs:  # recorded with the outcome (`generation_settle`), which `usage` reports
        job.input_tokens = prompt_tokens(model_id=job.model, prompt=job.prompt)
    first = jobs[0]
    started = time.monotonic()
    run_batch(
        model_id=first.model,
        operation=first.operation,
        width=first.width,
        height=first.height,
        strength=INPUT_FIDELITY_STRENGTH[first.input_fidelity],
        steps=first.steps,
        guidance_scale=first.guidance_scale,
        jobs=batch,
        on_step=_Step(jobs=jobs, worker_id=worker_id, deadline=deadline),
        preview_steps=preview_steps(
            total=first.steps, count=max(job.partial_images for job in jobs)
        ),
        on_preview=_PreviewPublish(jobs=jobs),
    )
    seconds = time.monotonic() - started
    for job, batch_job in zip(jobs, batch, strict=True):
        if job.background == "transparent":
            batch_job.images = backgrounds_remove(model_id=job.model, pictures=batch_job.images)
    return batch, seconds


def _batch_deliver(
    *, jobs: list[Generation], outputs: list, worker_id: str, pooled: bool
) -> list[Future]:
    """Hands the batch's delivery to the pool (or delivers it here): every image of the batch
    screened in one call (`_batch_screen`), then each one stored or withheld on its own
    thread; the last image of a job to finish settles it."""
    canceled = set(
        Generation.objects.filter(pk__in=[j.pk for j in jobs], cancel_requested=True).values_list(
            "pk", flat=True
        )
    )
    deliveries = []
    for job, batch_job in zip(jobs, outputs, strict=True):
        if job.pk in canceled:
            generation_settle(generation=job, worker_id=worker_id, delivered=[], canceled=True)
            continue
        deliveries.append(_JobDelivery(job=job, worker_id=worker_id, pictures=batch_job.images))
    if not deliveries:
        return []
    return [delivery_submit(functools.partial(_batch_screen, deliveries, pooled), pooled=pooled)]


def _batch_screen(deliveries: list["_JobDelivery"], pooled: bool) -> list[Future]:
    """On a pool thread: the batch's Image rows, then each image's delivered bytes (marks,
    encoding, content credentials) made on the pool while the batch is screened here in one
    batched call (one model pass, one decision each), then each image's storing handed on to
    the pool (their futures are this one's result, for `deliveries_wait`). Bytes are only
    written once the screening allows them; a withheld image's are dropped."""
    contents: list[Future[bytes]] = []
    try:
        # The classifier first: the longest model, and it needs none of the rows (the same
        # order as the rows below: job by job, image by image).
        scoring = nsfw_scoring_start([picture for d in deliveries for picture in d.pictures])
        images = _images_create(deliveries)
        contents += [
            delivery_submit(functools.partial(delivery.content, image), pooled=pooled)
            for delivery, image, _ in images
        ]
        verdicts = outputs_screen(
            outputs=[
                OutputImage(
                    picture=delivery.pictures[image.index],
                    image_id=image.pk,
                    generation_id=delivery.job.pk,
                    user=delivery.job.user,  # read with the claim (`_held`)
                    fresh=fresh,
                )
                for delivery, image, fresh in images
            ],
            nsfw_scoring=scoring,
        )
    except (SoftTimeLimitExceeded, DeadlineExceeded):
        raise  # the batch's handler fails what is not settled
    except Exception as error:
        logger.exception("screening the batch of %s failed", [d.job.pk for d in deliveries])
        for content in contents:
            content.cancel()  # bytes nobody will store; one already being made just ends
        for delivery in deliveries:
            delivery.fail(error)
        return []
    return [
        delivery_submit(functools.partial(delivery.image, image, verdict, content), pooled=pooled)
        for (delivery, image, _), verdict, content in zip(images, verdicts, contents, strict=True)
    ]


def _images_create(
    deliveries: list["_JobDelivery"],
) -> list[tuple["_JobDelivery", Image, bool]]:
    """Every picture's Image row, withheld until it is stored, in one INSERT and one SELECT (a
    rerun after a crash finds the rows it made: they are unique per generation and index).
    Each comes with whether this call inserted it (the stored id is the one made here: ids are
    made in Python): such an image cannot have been decided before (`OutputImage.fresh`)."""
    rows = [
        Image(
            generation=delivery.job,
            index=index,
            seed=delivery.job.seed + index,
            width=delivery.job.width,
            height=delivery.job.height,
            status=Image.Status.WITHHELD,
        )
        for delivery in deliveries
        for index in range(len(delivery.pictures))
    ]
    Image.objects.bulk_create(rows, ignore_conflicts=True)
    jobs = {delivery.job.pk: delivery for delivery in deliveries}
    stored = {
        (image.generation_id, image.index): image
        for image in Image.objects.filter(generation_id__in=jobs)
    }
    created = []
    for row in rows:
        image = stored[(row.generation_id, row.index)]
        image.generation = jobs[row.generation_id].job  # no query for it while delivering
        created.append((jobs[row.generation_id], image, image.pk == row.pk))
    return created


@dataclass
class _JobDelivery:
    """One job's images being delivered, each on its own thread; the last one settles it."""

    job: Generation
    worker_id: str
    pictures: list
    delivered: dict[int, Image] = field(default_factory=dict)
    failure: Exception | None = None
    finished: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    ingredient_lock: threading.Lock = field(default_factory=threading.Lock)

    def ingredient(self) -> bytes | None:
        """The uploaded input an edit or variation names in its content credentials: read once
        for all of the job's images, whose bytes are made on several threads at once (the lock
        keeps a second from reading it again while the first does)."""
        with self.ingredient_lock:
            return self._ingredient_stored

    @functools.cached_property
    def _ingredient_stored(self) -> bytes | None:
        key = self.job.input_image_key
        return storage_read(key=key) if key else None

    def content(self, image: Image) -> bytes:
        """The bytes `image` is stored as, once moderation allows it."""
        return delivered_image(
            picture=self.pictures[image.index], image=image, ingredient=self.ingredient()
        )

    def image(self, image: Image, verdict: Verdict, content: "Future[bytes]") -> None:
        try:
            image = image_deliver(
                image=image, picture=self.pictures[image.index], verdict=verdict, content=content
            )
        except (SoftTimeLimitExceeded, DeadlineExceeded):
            raise  # the batch's handler fails what is not settled
        except Exception as error:
            logger.exception("delivering image %s of %s failed", image.index, self.job.pk)
            with self.lock:
                self.failure = error
        else:
            if image.status == Image.Status.DELIVERED:
                with self.lock:
                    self.delivered[image.index] = image
        with self.lock:
            self.finished += 1
            last = self.finished == len(self.pictures)
        if last:
            self.settle()

    def fail(self, error: Exception) -> None:
        """None of its images can be delivered (their screening failed): settle it failed."""
        self.failure = error
        self.settle()

    def settle(self) -> None:
        if self.failure is not None:
            generation_fail(
                generation=self.job,
                worker_id=self.worker_id,
                message="The job failed on the GPU worker. No credits were charged.",
                log_detail=f"{type(self.failure).__name__}: {self.failure}",
            )
            return
        generation_settle(
            generation=self.job,
            worker_id=self.worker_id,
            delivered=[self.delivered[index] for index in sorted(self.delivered)],
        )


def image_deliver(
    *, image: Image, picture: PILImage.Image, verdict: Verdict, content: "Future[bytes]"
) -> Image:
    """Stores one screened output as `content` (its delivered bytes: signed, watermarked, with
    content credentials, being made beside the screening) when moderation allows it; a withheld
    one goes to the quarantine only."""
    generation = image.generation
    if verdict.blocked:
        quarantine_store(image=image, picture=picture)  # staff-only; an appeal may release it
        image.status, image.storage_key, image.under_review = Image.Status.WITHHELD, "", False
    else:
        key = image_key(
            generation_id=generation.pk, index=image.index, extension=generation.output_format
        )
        storage_write(key=key, content=content.result())
        image.status, image.storage_key = Image.Status.DELIVERED, key
        image.under_review = verdict.decision == "review"
    image.save(update_fields=["status", "storage_key", "under_review", "updated_at"])
    return image


def generation_settle(
    *, generation: Generation, worker_id: str, delivered: list[Image], canceled: bool = False
) -> bool:
    """Charges what was delivered, releases the rest, records the outcome, tells the listeners."""

    if not Generation.objects.filter(
        pk=generation.pk, status=Generation.Status.RUNNING, worker_id=worker_id
    ).exists():
        logger.warning("generation %s is no longer held by %s", generation.pk, worker_id)
        return False
    amount = len(delivered) * image_price(pixels=generation.pixels)
    status, message, withheld = _outcome(
        generation=generation, delivered=delivered, canceled=canceled
    )
    # The last step's progress, which no heartbeat wrote (they come once a second); a canceled
    # job keeps the step its last heartbeat recorded.
    progress = {} if canceled else {"progress_step": generation.steps}
    with soft_time_limit_deferred():  # the money and the status belong together
        # Money before the status, idempotent per generation: a crash between the two and a
        # rerun charge once; the other order could leave a delivered job never charged.
        if amount:
            credits_capture(generation_id=generation.pk, amount=amount)
        else:
            credits_release(generation_id=generation.pk)
        settled = Generation.objects.filter(
            pk=generation.pk, status=Generation.Status.RUNNING, worker_id=worker_id
        ).update(
            status=status,
            status_message=message,
            withheld_count=withheld,
            credits_captured=amount,
            input_tokens=generation.input_tokens,
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
            progress_total=generation.steps,
            **progress,
        )
    if not settled:
        logger.warning("generation %s was settled by another worker", generation.pk)
        return False
    metrics.job_finished(generation=generation, outcome=status, delivered=len(delivered))
    # The listeners first (a held request answers as soon as it hears); the webhook event and
    # the inputs' removal do not change what it answers.
    progress_publish(
        generation_id=generation.pk,
        status=status,
        step=generation.steps,
        total=generation.steps,
        images=[str(image.pk) for image in delivered],
        message=message,
    )
    webhook_event_emit_on_commit(generation=generation)
    _inputs_delete(generation=generation)
    return True


def _outcome(
    *, generation: Generation, delivered: list[Image], canceled: bool
) -> tuple[str, str, int]:
    """The settled job's status, the message its owner reads, and how many images were withheld."""
    if canceled:
        return Generation.Status.CANCELED, "Canceled while running. No credits were charged.", 0
    withheld = generation.n - len(delivered)
    if not delivered:
        message = "Every image was withheld by Easel's content policy. No credits were charged."
        return Generation.Status.BLOCKED, message, withheld
    message = (
        f"{withheld} of {generation.n} images were withheld by Easel's content policy "
        "and not charged."
        if withheld
        else ""
    )
    return Generation.Status.SUCCEEDED, message, withheld


def generation_fail(
    *, generation: Generation, worker_id: str | None, message: str, log_detail: str = ""
) -> bool:
    """Marks the job failed and releases its credits. Only the claim holder (or a sweep) may."""

    logger.error(
        "generation %s failed: %s %s",
        generation.pk,
        message,
        log_detail,
        extra={"generation_id": str(generation.pk)},
    )
    condition = Q(pk=generation.pk, status__in=Generation.LIVE_STATUSES)
    if worker_id is not None:
        condition &= Q(worker_id=worker_id)
    with soft_time_limit_deferred():  # the status and the release belong together
        failed = Generation.objects.filter(condition).update(
            status=Generation.Status.FAILED, status_message=message, finished_at=timezone.now()
        )
        if failed:
            # Only after the status moved: a worker that lost its claim must not release
            # credits for a job the new holder will deliver and capture. (A crash right here
            # leaves the reservation to billing's reservation sweep.)
            credits_release(generation_id=generation.pk)
            metrics.job_finished(generation=generation, outcome=Generation.Status.FAILED)
            webhook_event_emit_on_commit(generation=generation)
            _inputs_delete(generation=generation)
            progress_publish(
                generation_id=generation.pk,
                status=Generation.Status.FAILED,
                images=[],
                message=message,
            )
    return bool(failed)


def stale_sweep(*, now=None) -> int:  # type: ignore[no-untyped-def]
    """Fails RUNNING jobs whose worker vanished without a redelivery (e.g. the hard time limit
    killed it and Celery acknowledged the message). Their credits are released."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.EASEL_GENERATION_LEASE_SECONDS)
    count = 0
    for generation in Generation.objects.filter(
        status=Generation.Status.RUNNING, heartbeat_at__lt=cutoff
    ):
        count += generation_fail(
            generation=generation,
            worker_id=generation.worker_id,
            message=(
                "The GPU worker running this job stopped responding. No credits were charged."
            ),
        )
    return count
