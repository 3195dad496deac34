"""The one way in: every job, from every entry point, is admitted here (docs/architecture.md,
"The flow of one request").

Both APIs (`/v1`, `/api/v1`), every studio form (create, variations, edit), each frame of an
extension and the free preflight call this module; none of them re-implements a step. The order:

1. parameters (`generation.services.parameters`, the tier's limits, the model, the upload);
2. idempotency: an `Idempotency-Key` seen before answers that request's job;
3. throttle: the tier's requests and images per minute (`rate_limit_consume`, in Redis);
4. concurrent jobs (`concurrent_jobs_check`), up front so a refused request screens and
   reserves nothing;
5. screening: suspensions, the prompt, any upload (`moderation`, imported, so the call is in the
   import graph);
6. the credit reservation (`billing`): no reservation, no job;
7. the job row, with the concurrent-jobs check again inside its transaction (the lock it takes
   on the user row holds until the row is committed, so two requests cannot both take the last
   slot), and the enqueue after commit.

Exemptions, all of them (nowhere else may skip a step):
- A replay (same Idempotency-Key, same body) is not throttled, counted or charged again: it
  admits nothing new, it answers the job already admitted. So idempotency runs before the
  throttle.
- An extension's frames (`FRAME_OF_EXTENSION`) skip the per-minute throttle: the extension was
  counted as one request (and its first image) when it started (`admission_precheck` in
  `extension_start`), and a frame refused mid-way would stop a picture already paid for in
  part. Frames are never exempt from concurrency, screening or credits.
- Preflight starts no job, so it is throttled as one request with no images and skips the
  concurrent-jobs check; it screens without recording (no decision, no strike) and reserves
  nothing.

Every 429 raised on the way (rate, images, concurrency, quota) carries the account's
`x-ratelimit-*` headers and a `retry-after` (`_with_limit_headers`), and words for the web
page (`ApiError.try_again`).

Synchronous (ORM, Redis): async views call it through `run_sync`. Must not run inside a
transaction: the reservation is a durable transaction of its own, and a blocked prompt's record
must persist although admission raises.
"""

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from PIL import Image as PILImage

from accounts.models import ApiKey, User
from accounts.selectors import tier_limits_check
from accounts.services.rate_limits import (
    RateLimitState,
    concurrent_jobs_check,
    rate_limit_consume,
    rate_limit_peek,
    seconds_in_words,
)
from billing.selectors import generation_cost
from billing.services.credits import credits_release, credits_reserve, quota_retry_after_seconds
from common.errors import ApiError, Conflict, InsufficientQuota, InvalidRequest, RateLimitExceeded
from generation.inference.registry import ModelSpec, model_spec
from generation.models import Generation
from generation.selectors.preflight import generation_preflight
from generation.services.generations import generation_enqueue
from generation.services.idempotency import (
    idempotency_attach,
    idempotency_claim,
    idempotency_release,
    request_fingerprint,
)
from generation.services.image_options import (
    ImageOptions,
    image_options_resolve,
    input_images_check,
    partial_images_check,
    references_check,
)
from generation.services.parameters import (
    MAX_N,
    MAX_SEED,
    generation_params_check,
    model_alias_resolve,
    seed_steps_check,
)
from generation.services.progress import progress_publish
from generation.services.storage import storage_delete, storage_write, upload_key
from generation.services.uploads import ValidatedUpload, png_bytes, upload_validate
from moderation.services.enforcement import generation_permission_check
from moderation.services.image_screening import upload_screen
from moderation.services.screening import prompt_screen

# The `throttle` argument: how a request counts against the per-minute limits.
REQUEST = "request"  # one request and its images: every job but an extension's frames
FRAME_OF_EXTENSION = "frame_of_extension"  # see the module's exemptions


@dataclass(frozen=True)
class Idempotency:
    """An `Idempotency-Key` and what identifies the request it came with."""

    key: str
    method: str
    path: str
    accepted_status: int  # what a replay answers
    answer_fields: dict[str, Any] = field(default_factory=dict)  # e.g. the response format


@dataclass(frozen=True)
class Admitted:
    generation: Generation
    replayed: bool  # an earlier request with the same Idempotency-Key made it
    headers: dict[str, str] = field(default_factory=dict)  # x-ratelimit-* on a fresh start


@dataclass(frozen=True)
class Checked:
    """What the parameters step learned."""

    prompt: str
    options: ImageOptions  # the size, steps, format... settled for the model and the plan
    spec: ModelSpec
    upload: ValidatedUpload | None


def parameters_check(
    *,
    user: User,
    operation: str,
    prompt: Any,
    n: Any,
    size: int | str | None,
    model: str | None,
    seed: Any = None,
    steps: Any = None,
    image_bytes: bytes | None = None,
    mask_bytes: bytes | None = None,
    reference_bytes: tuple[bytes, ...] = (),
    upload_required: bool = True,
    **image_option_values: Any,
) -> Checked:
    """Step 1: the request's own limits, the tier's, the model's and the upload's.
    `reference_bytes`: the images sent after the first (references for the model's IP-Adapter).
    `image_option_values`: quality, output_format, output_compression, background, moderation,
    input_fidelity (generation/services/image_options.py; None or absent: the default)."""
    generation_params_check(operation=operation, prompt=prompt, n=n, size=size)
    prompt = prompt or ""  # a variation's prompt may be left out
    spec = model_spec(model_id=model_alias_resolve(model))
    seed_steps_check(seed=seed, steps=steps)
    input_images_check(count=len(reference_bytes) + 1)
    references_check(spec=spec, operation=operation, count=len(reference_bytes))
    upload = None
    if operation != Generation.Operation.GENERATE and (upload_required or image_bytes):
        upload = upload_validate(
            image_bytes=image_bytes,
            mask_bytes=mask_bytes if operation == Generation.Operation.EDIT else None,
            needs_alpha=operation == Generation.Operation.EDIT,
            reference_bytes=reference_bytes,
        )
    options = image_options_resolve(
        spec=spec,
        max_pixels=user.tier.max_pixels,
        size=size,
        steps=steps,
        source=upload.image.size if upload else None,
        **image_option_values,
    )
    tier_limits_check(user=user, n=n, size=options.size, operation=operation)
    if operation not in spec.operations:
        raise InvalidRequest(f"The model '{spec.id}' does not serve {operation}s.", param="model")
    return Checked(prompt=prompt, options=options, spec=spec, upload=upload)


def admission_precheck(*, user: User, api_key: ApiKey | None, images: int) -> RateLimitState:
    """Steps 3 and 4 alone, for a request that is counted here but starts its jobs later (an
    extension): one request and `images` images, then the concurrent-jobs check."""
    state = rate_limit_consume(user=user, api_key=api_key, requests=1, images=images)
    with _with_limit_headers(user=user, state=state):
        concurrent_jobs_check(user=user)
    return state


def admission_admit(
    *,
    user: User,
    source: str,
    operation: str,
    prompt: Any = "",
    n: Any = 1,
    size: int | str | None = None,
    api_key: ApiKey | None = None,
    image_bytes: bytes | None = None,
    mask_bytes: bytes | None = None,
    reference_bytes: tuple[bytes, ...] = (),
    model: str | None = None,
    seed: Any = None,
    steps: Any = None,
    end_user: str = "",
    face_consent: bool = False,
    idempotency: Idempotency | None = None,
    throttle: str = REQUEST,
    generation_id: uuid.UUID | None = None,
    partial_images: int = 0,
    **image_option_values: Any,
) -> Admitted:
    """Admits one job, or raises the first step's refusal with nothing reserved or created.

    `size`: WxH, a square's side, or None / "auto" (the model's native pixels within the plan,
    in the upload's shape for an edit or variation).
    `image_option_values`: the image options (`parameters_check`). `partial_images`: previews
    to publish while it renders (a streamed request's, 0-3). `generation_id`: the job's id
    chosen in advance (an extension's claimed frame); it must not belong to a job already.
    """
    checked = parameters_check(
        user=user,
        operation=operation,
        prompt=prompt,
        n=n,
        size=size,
        model=model,
        seed=seed,
        steps=steps,
        image_bytes=image_bytes,
        mask_bytes=mask_bytes,
        reference_bytes=reference_bytes,
        **image_option_values,
    )
    prompt = checked.prompt
    record = None
    if idempotency is not None:
        fields = {
            "operation": operation,
            "prompt": prompt,
            "n": n,
            "size": checked.options.size.label,
            "model": checked.spec.id,
            "seed": seed,
            "steps": steps,
            "end_user": end_user,
            "face_consent": face_consent,
            "partial_images": partial_images,
            **image_option_values,
            **idempotency.answer_fields,
        }
        uploads = {k: v for k, v in (("image", image_bytes), ("mask", mask_bytes)) if v}
        uploads |= {f"reference-{i}": data for i, data in enumerate(reference_bytes)}
        fingerprint = request_fingerprint(
            method=idempotency.method, path=idempotency.path, fields=fields, files=uploads
        )
        claim = idempotency_claim(user=user, key=idempotency.key, fingerprint=fingerprint)
        if claim.replay is not None:
            return Admitted(generation=claim.replay, replayed=True)
        record = claim.record
        generation_id = record.planned_generation_id
    try:
        state = _throttle(user=user, api_key=api_key, n=n, throttle=throttle)
        with _with_limit_headers(user=user, state=state):
            # The early answer (a count); the row's transaction, locked, settles a race.
            concurrent_jobs_check(user=user, lock=False)
            generation = _screen_reserve_create(
                user=user,
                api_key=api_key,
                source=source,
                operation=operation,
                prompt=prompt,
                n=n,
                checked=checked,
                seed=seed,
                steps=steps,
                end_user=end_user,
                face_consent=face_consent,
                generation_id=generation_id,
                partial_images=partial_images,
            )
    except BaseException:
        if record is not None:
            idempotency_release(record=record)
        raise
    if record is not None and idempotency is not None:
        idempotency_attach(
            record=record, generation=generation, status_code=idempotency.accepted_status
        )
    return Admitted(generation=generation, replayed=False, headers=state.headers() if state else {})


@dataclass(frozen=True)
class Preflight:
    body: dict[str, Any]
    headers: dict[str, str]  # x-ratelimit-*: the preflight counted as one request


def admission_preflight(
    *,
    user: User,
    api_key: ApiKey | None,
    operation: str,
    prompt: Any = "",
    n: Any = 1,
    size: int | str | None = None,
    model: str | None = None,
    end_user: str = "",
    face_consent: bool = False,
    image_bytes: bytes | None = None,
    mask_bytes: bytes | None = None,
    reference_bytes: tuple[bytes, ...] = (),
    **image_option_values: Any,
) -> Preflight:
    """The free preflight through the same steps: parameters (the upload is optional: without
    one only the prompt is judged), the throttle as one request of no images (a free way to
    probe the filter must not be unlimited), then the read (`generation_preflight`)."""
    checked = parameters_check(
        user=user,
        operation=operation,
        prompt=prompt,
        n=n,
        size=size,
        model=model,
        image_bytes=image_bytes,
        mask_bytes=mask_bytes,
        reference_bytes=reference_bytes,
        upload_required=False,
        **image_option_values,
    )
    state = rate_limit_consume(user=user, api_key=api_key, requests=1, images=0)
    body = generation_preflight(
        user=user,
        api_key=api_key,
        prompt=checked.prompt,
        n=n,
        options=checked.options,
        upload=checked.upload,
        end_user=end_user,
        face_consent=face_consent,
    )
    return Preflight(body=body, headers=state.headers())


def _throttle(
    *, user: User, api_key: ApiKey | None, n: int, throttle: str
) -> RateLimitState | None:
    if throttle == FRAME_OF_EXTENSION:
        return None  # counted when the extension started
    if throttle != REQUEST:
        raise ValueError(f"unknown throttle {throttle!r}")
    return rate_limit_consume(user=user, api_key=api_key, requests=1, images=n)


def _screen_reserve_create(
    *,
    user: User,
    api_key: ApiKey | None,
    source: str,
    operation: str,
    prompt: str,
    n: int,
    checked: Checked,
    seed: int | None,
    steps: int | None,
    end_user: str,
    face_consent: bool,
    generation_id: uuid.UUID | None,
    partial_images: int,
) -> Generation:
    """Steps 5 to 7."""
    generation_permission_check(user=user, end_user=end_user)
    new_generation_id = generation_id is None  # nothing can have been screened for it yet
    if generation_id is None:
        generation_id = uuid.uuid4()
    elif Generation.objects.filter(pk=generation_id).exists():
        # Reserving would answer that job's reservation, and the failed insert would release it.
        raise Conflict("A generation with this id already exists.", param="generation_id")
    _screen(
        user=user,
        prompt=prompt,
        upload=checked.upload,
        end_user=end_user,
        face_consent=face_consent,
        generation_id=generation_id,
        new_generation_id=new_generation_id,
    )
    options = checked.options
    amount = generation_cost(pixels=options.size.pixels, n=n)
    credits_reserve(
        user=user,
        generation_id=generation_id,
        amount=amount,
        api_key=api_key,
        size=options.size.long_side,
    )
    written: list[str] = []
    try:
        keys = _uploads_store(generation_id=generation_id, upload=checked.upload, written=written)
        with transaction.atomic():
            concurrent_jobs_check(user=user)  # its lock on the user row holds until commit
            generation = Generation.objects.create(
                id=generation_id,
                user=user,
                api_key=api_key,
                end_user=end_user,
                source=source,
                operation=operation,
                model=checked.spec.id,
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
                partial_images=partial_images_check(stream=True, partial_images=partial_images),
                seed=secrets.randbelow(MAX_SEED - MAX_N) if seed is None else seed,
                input_image_key=keys.get("image", ""),
                input_mask_key=keys.get("mask", ""),
                input_reference_keys=keys.get("references", []),
                reference_count=len(keys.get("references", [])),
                credits_reserved=amount,
                queue_lane=user.tier.queue_lane,
            )
            transaction.on_commit(lambda: generation_enqueue(generation=generation))
    except BaseException:
        # No job, no hold on the customer's credits, no upload left behind.
        credits_release(generation_id=generation_id)
        for key in written:
            storage_delete(key=key)
        raise
    progress_publish(generation_id=generation.id, status=generation.status, total=generation.steps)
    return generation


def _screen(
    *,
    user: User,
    prompt: str,
    upload: ValidatedUpload | None,
    end_user: str,
    face_consent: bool,
    generation_id: uuid.UUID,
    new_generation_id: bool,
) -> None:
    if prompt.strip():
        verdict = prompt_screen(
            prompt=prompt,
            user=user,
            end_user=end_user,
            generation_id=generation_id,
            new_generation_id=new_generation_id,
        )
        if verdict.blocked:
            raise verdict.as_error()
    if upload is not None:
        verdict = upload_screen(
            image=upload.image,
            references=upload.references,
            user=user,
            face_consent=face_consent,
            end_user=end_user,
            generation_id=generation_id,
        )
        if verdict.blocked:
            error = verdict.as_error()
            error.param = "image"
            raise error


def _uploads_store(
    *, generation_id: uuid.UUID, upload: ValidatedUpload | None, written: list[str]
) -> dict[str, Any]:
    """Writes the job's uploads; their keys: `image`, `mask`, and `references` (a list). Each key
    joins `written` before its file is written, so a failure removes what got stored."""
    if upload is None:
        return {}

    def store(kind: str, picture: PILImage.Image) -> str:
        key = upload_key(generation_id=generation_id, kind=kind)
        written.append(key)
        storage_write(key=key, content=png_bytes(picture))
        return key

    keys: dict[str, Any] = {"image": store("image", upload.image)}
    if upload.mask is not None:
        keys["mask"] = store("mask", upload.mask)
    keys["references"] = [
        store(f"reference-{index}", picture) for index, picture in enumerate(upload.references)
    ]
    return keys


@contextmanager
def _with_limit_headers(*, user: User, state: RateLimitState | None) -> Iterator[None]:
    """Every 429 raised inside carries the account's x-ratelimit-* headers and a retry-after.

    `state`: the throttle's answer for this request, when it was counted; otherwise the
    buckets are read without charging them."""
    try:
        yield
    except (RateLimitExceeded, InsufficientQuota) as error:
        limit_headers_add(error=error, user=user, state=state)
        raise


def limit_headers_add(*, error: ApiError, user: User, state: RateLimitState | None) -> None:
    state = state or rate_limit_peek(user=user)
    error.headers = {**state.headers(), **error.headers}
    if isinstance(error, InsufficientQuota) and "retry-after" not in error.headers:
        seconds = quota_retry_after_seconds()
        error.headers["retry-after"] = str(seconds)
        error.try_again = (
            f"as soon as you buy credits, or {seconds_in_words(seconds)} "
            "when the free monthly grant arrives"
        )
