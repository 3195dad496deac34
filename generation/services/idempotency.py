"""`Idempotency-Key` on the POST endpoints of both APIs.

The same key with the same request within 24 hours answers the first request's result and
charges once; the same key with a different request is 409. Keys belong to a user: two
customers may use the same key.

How it holds under concurrency: a key is claimed by inserting its row under the UNIQUE
(user, key) constraint, so of two simultaneous requests exactly one inserts and goes on; the
other finds the row. While the first is still creating its generation the row has no
generation yet and the second answers 409 `idempotency_key_in_use` (retry in a moment, as
Stripe does); once it has one, the second answers that generation's result.

A request that fails (bad input, no credits, a policy block) releases its claim: nothing was
charged or stored, so the key may be used again, with the same or a corrected body.

A request that dies between creating its job and recording it: the claim carries the job's id
from the start (`planned_generation_id`, admission_admit's id for the job), so the next request
with the key finds that job and records it, rather than taking the key over and making another.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.models import User
from common.errors import Conflict, InvalidRequest
from generation.models import Generation, IdempotencyRecord

IDEMPOTENCY_TTL = timedelta(hours=24)
# A claim still without a generation after this long belongs to a request that died mid-way
# (creating a generation takes well under a second): the key is taken over.
CLAIM_ABANDONED_AFTER = timedelta(minutes=2)
MAX_KEY_LENGTH = 255


@dataclass(frozen=True)
class IdempotencyClaim:
    record: IdempotencyRecord
    # The generation an earlier request with this key made: answer it instead of making another.
    replay: Generation | None


def request_fingerprint(
    *, method: str, path: str, fields: dict[str, Any], files: dict[str, bytes]
) -> str:
    """SHA-256 of what the request asks for, independent of JSON spacing or multipart boundary."""
    canonical = {
        "method": method.upper(),
        "path": path,
        "fields": {name: fields[name] for name in sorted(fields)},
        "files": {name: hashlib.sha256(files[name]).hexdigest() for name in sorted(files)},
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, default=str).encode()).hexdigest()


def idempotency_claim(*, user: User, key: str, fingerprint: str) -> IdempotencyClaim:
    """Claims `key` for this request, or says which earlier generation answers it.

    Raises Conflict (409) when the key was used for a different request, or when the request
    that holds it has not created its generation yet.
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(
            f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} characters.",
            param="Idempotency-Key",
            code="invalid_idempotency_key",
        )
    _orphan_attach(user=user, key=key)  # before the expiry below could take the key over
    _expired(user=user, key=key).delete()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                user=user,
                key=key,
                request_fingerprint=fingerprint,
                planned_generation_id=uuid.uuid4(),
            )
        return IdempotencyClaim(record=record, replay=None)
    except IntegrityError:
        pass  # the key is taken: by this same request sent again, or by another one
    record = IdempotencyRecord.objects.select_related("generation").get(user=user, key=key)
    if record.request_fingerprint != fingerprint:
        raise Conflict(
            "This Idempotency-Key was already used with a different request. Use a new key "
            "for a new request.",
            param="Idempotency-Key",
            code="idempotency_key_reused",
            headers={"x-should-retry": "false"},
        )
    if record.generation is None:
        raise Conflict(
            "A request with this Idempotency-Key is still being processed. Retry in a moment.",
            param="Idempotency-Key",
            code="idempotency_key_in_use",
            headers={"retry-after": "1"},
        )
    return IdempotencyClaim(record=record, replay=record.generation)


def idempotency_attach(
    *, record: IdempotencyRecord, generation: Generation, status_code: int
) -> None:
    """Records which generation answers the key, for every later request with it."""
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        generation=generation, response_status=status_code
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """The request failed and changed nothing: the key is free again. Kept when its job was
    made after all (it failed after the insert): a retry is then answered by that job."""
    made = Generation.objects.filter(pk=OuterRef("planned_generation_id"))
    IdempotencyRecord.objects.filter(pk=record.pk, generation__isnull=True).exclude(
        Exists(made)
    ).delete()


def idempotency_records_purge() -> int:
    """Deletes records past the 24-hour window; returns how many. Run hourly by beat."""
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=timezone.now() - IDEMPOTENCY_TTL
    ).delete()
    return deleted


def _orphan_attach(*, user: User, key: str) -> None:
    """Records the job of a request that died after creating it, before recording it."""
    made = Generation.objects.filter(pk=OuterRef("planned_generation_id"), user=user)
    IdempotencyRecord.objects.filter(
        user=user, key=key, generation__isnull=True, planned_generation_id__isnull=False
    ).filter(Exists(made)).update(generation_id=F("planned_generation_id"))


def _expired(*, user: User, key: str):  # type: ignore[no-untyped-def]
    now = timezone.now()
    return IdempotencyRecord.objects.filter(user=user, key=key).filter(
        Q(created_at__lt=now - IDEMPOTENCY_TTL)
        | Q(generation__isnull=True, created_at__lt=now - CLAIM_ABANDONED_AFTER)
    )
