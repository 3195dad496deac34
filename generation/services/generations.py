"""Creating, queueing and canceling generations (the web side of DESIGN.md's request flow).

`generation_create` validates, screens the prompt and any upload, reserves credits and creates
the row, then enqueues the GPU task after commit. The order matters: nothing is charged before
the request is known to be valid and allowed, and no job exists without its reservation.
"""

import importlib
import logging
import secrets
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.errors import Conflict, InvalidRequest
from common.queues import lane_priority
from generation.inference.registry import model_queue, model_spec
from generation.models import Generation
from generation.services.image_options import ImageSize, image_options_resolve, size_parse
from generation.services.progress import progress_publish
from generation.services.storage import storage_delete, storage_write, upload_key
from generation.services.uploads import png_bytes, upload_validate
from generation.services.webhooks import webhook_event_emit_on_commit

logger = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 1000
MAX_N = 10
MAX_SEED = 2**31 - 1


def moderation_service(name: str) -> Callable[..., Any]:
    """A screening service of moderation's (docs/contracts.md), wherever that app keeps it."""
    for module in (
        "moderation.services.screening",
        "moderation.services.image_screening",
        "moderation.services.prompt_screening",
    ):
        try:
            service = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if service is not None:
            return service
    raise RuntimeError(f"moderation provides no {name}() yet (docs/contracts.md)")


def _size_parse(size: int | str | None) -> ImageSize | None:
    """The size's own rules (image_options.size_parse); None is `auto`."""
    return size_parse(size)


def generation_params_check(
    *, operation: str, prompt: str, n: int, size: int | str | None
) -> ImageSize | None:
    """The request's own limits (operation, prompt, n, size), in OpenAI's words; the size asked
    for (None: `auto`, settled with the model). generation_create and the free preflight both
    apply them."""
    if operation not in Generation.Operation.values:
        raise InvalidRequest(f"Unknown operation '{operation}'.", param="operation")
    if operation != Generation.Operation.VARIATION and not prompt.strip():
        raise InvalidRequest("'prompt' is a required property.", param="prompt")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequest(
            f"Invalid 'prompt': string too long. Expected a string with maximum length "
            f"{MAX_PROMPT_CHARS}, but got a string with length {len(prompt)} instead.",
            param="prompt",
            code="string_above_max_length",
        )
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InvalidRequest(
            f"Invalid 'n': integer below minimum value. Expected a value >= 1, "
            f"but got {n} instead.",
            param="n",
            code="integer_below_min_value",
        )
    if n > MAX_N:
        raise InvalidRequest(
            f"Invalid 'n': integer above maximum value. Expected a value <= {MAX_N}, "
            f"but got {n} instead.",
            param="n",
            code="integer_above_max_value",
        )
    return _size_parse(size)


def generation_create(
    *,
    user: Any,
    source: str,
    operation: str,
    prompt: str = "",
    n: int = 1,
    size: int | str | None = None,
    api_key: Any = None,
    image_bytes: bytes | None = None,
    mask_bytes: bytes | None = None,
    model: str | None = None,
    seed: int | None = None,
    steps: int | None = None,
    end_user: str = "",
    face_consent: bool = False,
    admit: Callable[[], object] | None = None,
    generation_id: uuid.UUID | None = None,
    quality: str | None = None,
    output_format: str | None = None,
    output_compression: int | None = None,
    background: str | None = None,
    moderation: str | None = None,
    input_fidelity: str | None = None,
) -> Generation:
    """Validates, screens, reserves credits, creates the job; the task is queued after commit.

    `admit`: the caller's last checks (the APIs': concurrent jobs, then the rate limit). It runs
    inside the transaction that inserts the job, so a row lock it takes holds until the job is
    committed, and it runs after every other check, so a request refused anywhere earlier has
    not paid for it. When it raises, nothing is created and the reservation is released.

    `size`: WxH, a square's side, or None / "auto" (the model's native size within the plan);
    `quality` ... `input_fidelity`: the image options (generation/services/image_options.py,
    docs/api.md), each None for its default.

    `generation_id`: the job's id chosen in advance (the Idempotency-Key's claim records it
    first, so a retry after a crash finds this job). It must not belong to a job already.

    Must not run inside a transaction: the reservation is a durable transaction of its own, and
    a blocked prompt's record must persist although this raises.
    """
    from accounts.selectors import tier_limits_check
    from billing.selectors import generation_cost
    from billing.services.credits import credits_release, credits_reserve

    generation_params_check(operation=operation, prompt=prompt, n=n, size=size)
    spec = model_spec(model_id=model)
    options = image_options_resolve(
        spec=spec,
        max_pixels=user.tier.max_pixels,
        size=size,
        steps=steps,
        quality=quality,
        output_format=output_format,
        output_compression=output_compression,
        background=background,
        moderation=moderation,
        input_fidelity=input_fidelity,
    )
    tier_limits_check(user=user, n=n, size=options.size, operation=operation)
    if operation not in spec.operations:
        raise InvalidRequest(f"The model '{spec.id}' does not serve {operation}s.", param="model")
    if seed is not None and not (0 <= seed <= MAX_SEED):
        raise InvalidRequest(f"'seed' must be between 0 and {MAX_SEED}.", param="seed")
    upload = None
    if operation != Generation.Operation.GENERATE:
        upload = upload_validate(
            image_bytes=image_bytes,
            mask_bytes=mask_bytes if operation == Generation.Operation.EDIT else None,
            needs_alpha=operation == Generation.Operation.EDIT,
        )

    from moderation.services.enforcement import generation_permission_check

    generation_permission_check(user=user, end_user=end_user)
    if generation_id is None:
        generation_id = uuid.uuid4()
    elif Generation.objects.filter(pk=generation_id).exists():
        # Reserving would answer that job's reservation, and the failed insert would release it.
        raise Conflict("A generation with this id already exists.", param="generation_id")
    if prompt.strip():
        verdict = moderation_service("prompt_screen")(
            prompt=prompt, user=user, end_user=end_user, generation_id=generation_id
        )
        if verdict.blocked:
            raise verdict.as_error()
    if upload is not None:
        verdict = moderation_service("upload_screen")(
            image=upload.image,
            user=user,
            face_consent=face_consent,
            end_user=end_user,
            generation_id=generation_id,
        )
        if verdict.blocked:
            error = verdict.as_error()
            error.param = "image"
            raise error

    amount = generation_cost(pixels=options.size.pixels, n=n)
    credits_reserve(
        user=user,
        generation_id=generation_id,
        amount=amount,
        api_key=api_key,
        size=options.size.long_side,
    )
    try:
        keys = _uploads_store(generation_id=generation_id, upload=upload)
        with transaction.atomic():
            if admit is not None:
                admit()
            generation = Generation.objects.create(
                id=generation_id,
                user=user,
                api_key=api_key,
                end_user=end_user,
                source=source,
                operation=operation,
                model=spec.id,
                prompt=prompt,
                n=n,
                size=options.size.long_side,
                width=options.size.width,
                height=options.size.height,
                steps=options.steps,
                guidance_scale=options.guidance_scale,
                quality=options.quality,
                output_format=options.output_format,
                output_compression=options.output_compression,
                background=options.background,
                moderation=options.moderation,
                input_fidelity=options.input_fidelity,
                seed=secrets.randbelow(MAX_SEED - MAX_N) if seed is None else seed,
                input_image_key=keys.get("image", ""),
                input_mask_key=keys.get("mask", ""),
                credits_reserved=amount,
                queue_lane=user.tier.queue_lane,
            )
            transaction.on_commit(lambda: generation_enqueue(generation=generation))
    except BaseException:
        # No job, no hold on the customer's credits.
        credits_release(generation_id=generation_id)
        raise
    progress_publish(generation_id=generation.id, status=generation.status, total=generation.steps)
    return generation


def _uploads_store(*, generation_id: uuid.UUID, upload: Any) -> dict[str, str]:
    if upload is None:
        return {}
    keys = {"image": upload_key(generation_id=generation_id, kind="image")}
    storage_write(key=keys["image"], content=png_bytes(upload.image))
    if upload.mask is not None:
        keys["mask"] = upload_key(generation_id=generation_id, kind="mask")
        storage_write(key=keys["mask"], content=png_bytes(upload.mask))
    return keys


def generation_enqueue(
    *,
    generation: Generation,
    lane: int | None = None,
    soft_time_limit: float | None = None,
    time_limit: float | None = None,
) -> None:
    """Sends the GPU task at the lane's priority. Limits default to the task's own settings."""
    from generation.tasks import generation_run_task

    options: dict[str, Any] = {}
    if soft_time_limit is not None:
        options["soft_time_limit"] = soft_time_limit
    if time_limit is not None:
        options["time_limit"] = time_limit
    generation_run_task.apply_async(
        args=[str(generation.id)],
        queue=model_queue(model_id=generation.model),
        priority=lane_priority(generation.queue_lane if lane is None else lane),
        **options,
    )


def generation_cancel(*, generation: Generation) -> Generation:
    """Stops a job. Queued: canceled at once, credits released. Running: the worker stops at the
    next denoising step, then settles. Final: nothing changes. Idempotent."""
    from billing.services.credits import credits_release

    canceled_now = Generation.objects.filter(
        pk=generation.pk, status=Generation.Status.QUEUED
    ).update(
        status=Generation.Status.CANCELED,
        cancel_requested=True,
        status_message="Canceled before it started.",
        finished_at=timezone.now(),
    )
    if canceled_now:
        credits_release(generation_id=generation.pk)
        webhook_event_emit_on_commit(generation_id=generation.pk)
        _inputs_delete(generation=generation)
        progress_publish(generation_id=generation.pk, status=Generation.Status.CANCELED, images=[])
    else:
        Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING).update(
            cancel_requested=True
        )
    generation.refresh_from_db()
    return generation


def _inputs_delete(*, generation: Generation) -> None:
    storage_delete(key=generation.input_image_key)
    storage_delete(key=generation.input_mask_key)


def lanes_promote(*, now: Any = None) -> int:
    """Free jobs still progress: a low-lane job queued too long is re-sent at normal priority.

    The job's first message stays in the low list; whichever copy a worker takes first claims
    the job (QUEUED -> RUNNING), and the other finds it claimed and does nothing.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.EASEL_LANE_PROMOTE_AFTER_SECONDS)
    promoted = 0
    waiting = Generation.objects.filter(
        status=Generation.Status.QUEUED, queue_lane=0, created_at__lt=cutoff
    ).values_list("pk", flat=True)
    for generation_id in list(waiting[:500]):
        # Conditional, so two beat runs never promote (and re-send) one job twice.
        if Generation.objects.filter(
            pk=generation_id, queue_lane=0, status=Generation.Status.QUEUED
        ).update(queue_lane=1, sent_at=timezone.now()):
            generation_enqueue(generation=Generation.objects.get(pk=generation_id))
            promoted += 1
    if promoted:
        logger.info("promoted %d waiting low-lane jobs", promoted)
    return promoted
