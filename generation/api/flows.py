"""What both APIs do to start a generation, between validating the input and answering.

Order (DESIGN.md, "The flow of one request"): the Idempotency-Key first (a repeat of an earlier
request answers that request's generation and is neither throttled nor charged again); then the
tier's rate limit, before anything else is spent on the request (like OpenAI's, it counts every
request, refused ones included); then the concurrent-jobs check; then `generation_create` (tier
limits, policy screening, credit reservation, the job). The concurrent-jobs check runs twice:
once up front, so a refused request reserves and screens nothing, and again as
`generation_create`'s `admit` step, inside the transaction that inserts the job, where its lock
on the user row holds until the job row is committed (two requests cannot both take the last
slot). Synchronous: views call it through `run_sync`.
"""

from dataclasses import dataclass, field
from typing import Any

from accounts.models import ApiKey, User
from accounts.services.rate_limits import concurrent_jobs_check, rate_limit_consume
from generation.models import Generation
from generation.services.generations import generation_create
from generation.services.idempotency import (
    idempotency_attach,
    idempotency_claim,
    idempotency_release,
    request_fingerprint,
)


@dataclass(frozen=True)
class Started:
    generation: Generation
    replayed: bool  # an earlier request with the same Idempotency-Key made it
    headers: dict[str, str] = field(default_factory=dict)  # x-ratelimit-* on a fresh start


def generation_start(
    *,
    user: User,
    api_key: ApiKey | None,
    source: str,
    operation: str,
    params: dict[str, Any],
    files: dict[str, Any],
    idempotency_key: str | None,
    method: str,
    path: str,
    accepted_status: int,
    answer_fields: dict[str, Any] | None = None,
) -> Started:
    """`params`: generation_create's keyword arguments; `files`: name -> uploaded file;
    `answer_fields`: what else the request asks for (the answer's format), so that a repeat
    asking for another format is a different request."""
    uploads = {name: _read(upload) for name, upload in files.items() if upload is not None}
    record = None
    if idempotency_key is not None:
        fields = {**params, **(answer_fields or {})}
        fingerprint = request_fingerprint(method=method, path=path, fields=fields, files=uploads)
        claim = idempotency_claim(user=user, key=idempotency_key, fingerprint=fingerprint)
        if claim.replay is not None:
            return Started(generation=claim.replay, replayed=True)
        record = claim.record
    try:
        rate_limits = rate_limit_consume(
            user=user, api_key=api_key, requests=1, images=params.get("n", 1)
        )
        concurrent_jobs_check(user=user)  # the early answer; `admit` settles a race
        generation = generation_create(
            user=user,
            api_key=api_key,
            source=source,
            operation=operation,
            image_bytes=uploads.get("image"),
            mask_bytes=uploads.get("mask"),
            admit=lambda: concurrent_jobs_check(user=user),  # the lock holds until commit
            generation_id=record.planned_generation_id if record is not None else None,
            **params,
        )
    except BaseException:
        if record is not None:
            idempotency_release(record=record)
        raise
    if record is not None:
        idempotency_attach(record=record, generation=generation, status_code=accepted_status)
    return Started(generation=generation, replayed=False, headers=rate_limits.headers())


def _read(upload: Any) -> bytes:
    upload.seek(0)
    return upload.read()
