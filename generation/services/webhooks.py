"""Webhooks for API customers: signed job events, retried with backoff, never into our network.

An endpoint belongs to an account (every job's events) or to one API key (the jobs made with
it). When a generation ends, `webhook_event_emit` writes one delivery per matching endpoint
(unique per endpoint and event, so emitting twice sends once) and queues the first try after
commit. Each try claims the delivery with a conditional update, so the beat sweep and a queued
task never send the same try twice at once.

Signature, verifiable like Stripe's: `Easel-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>" keyed with the endpoint's secret>`; `webhook_signature_verify` shows how.

A webhook URL is a way into our network, so every try (not only creation) resolves the host
and refuses when ANY address it resolves to is loopback, private, link-local (cloud metadata
lives there), shared, reserved or multicast; it then connects to the address it checked (no
second lookup a DNS rebinding could change), over https, and never follows a redirect.
`settings.WEBHOOKS_ALLOW_LOOPBACK` (local and test only) also allows http and loopback.
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, User
from common import metrics
from common.errors import InvalidRequest, NotFound
from generation.models import Generation, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from generation.webhook_tasks import webhook_deliver_task

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Easel-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300
# Waits before try 2, 3, ...: about 24 hours in all (settings.WEBHOOK_RETRY_WINDOW caps it).
RETRY_BACKOFF_SECONDS = (30, 120, 600, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 8 * 3600)
MAX_ENDPOINTS_PER_USER = 20
_RESPONSE_EXCERPT = 500
_SWEEP_MARK_KEY = "generation:webhooks:sweep-mark"


class WebhookRefused(Exception):
    """The URL may not be called: the reason is shown in the customer's delivery log."""


@dataclass(frozen=True)
class ResolvedTarget:
    url: str  # the URL with the host replaced by the checked address
    host: str  # the original host: Host header and TLS server name
    address: str


# --- Endpoints ---------------------------------------------------------------------------------


def webhook_endpoint_create(
    *, user: User, url: str, api_key: ApiKey | None = None
) -> WebhookEndpoint:
    url = webhook_url_validate(url=url)
    if api_key is not None and api_key.user_id != user.pk:
        raise NotFound("No such API key.", param="api_key")
    if WebhookEndpoint.objects.filter(user=user).count() >= MAX_ENDPOINTS_PER_USER:
        raise InvalidRequest(
            f"An account may have at most {MAX_ENDPOINTS_PER_USER} webhook endpoints.", param="url"
        )
    return WebhookEndpoint.objects.create(
        user=user, api_key=api_key, url=url, secret=f"whsec_{secrets.token_urlsafe(32)}"
    )


def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, url: str | None = None, is_active: bool | None = None
) -> WebhookEndpoint:
    if url is not None:
        endpoint.url = webhook_url_validate(url=url)
    if is_active is not None:
        endpoint.is_active = is_active
    endpoint.save(update_fields=["url", "is_active", "updated_at"])
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()


def webhook_url_validate(*, url: str) -> str:
    """Checks what can be checked when the URL is saved; delivery checks the addresses again."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0-65535
    except ValueError:  # "https://[::1/" (an unclosed IPv6 literal), "https://host:99999/"
        raise InvalidRequest("This is not a valid URL.", param="url") from None
    allowed_schemes = {"https", "http"} if settings.WEBHOOKS_ALLOW_LOOPBACK else {"https"}
    if parts.scheme not in allowed_schemes:
        raise InvalidRequest("A webhook URL must start with https://.", param="url")
    if not parts.hostname:
        raise InvalidRequest("A webhook URL needs a host name.", param="url")
    if parts.username or parts.password:
        raise InvalidRequest("A webhook URL may not contain a user name or password.", param="url")
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        literal = None
    if literal is not None:
        try:
            _address_check(literal)
        except WebhookRefused as refused:
            raise InvalidRequest(str(refused), param="url") from None
    return urlunsplit(parts)


# --- Events ------------------------------------------------------------------------------------


def _endpoints_for(generation: Generation) -> list[WebhookEndpoint]:
    """The owner's active endpoints that hear this job: those for every key, and the one for the
    key that made it."""
    active = WebhookEndpoint.objects.filter(user_id=generation.user_id, is_active=True)
    return [e for e in active if e.api_key_id is None or e.api_key_id == generation.api_key_id]


def webhook_event_emit(
    *, generation: Generation, endpoints: list[WebhookEndpoint] | None = None
) -> list[WebhookDelivery]:
    """Queues `generation.<status>` to the owner's endpoints (`endpoints` when the caller has
    just read them). Idempotent: call it on settling."""
    if not generation.is_final:
        return []
    endpoints = _endpoints_for(generation) if endpoints is None else endpoints
    if not endpoints:
        return []  # most owners have none: no payload to build (a query for the images)
    event_type = f"generation.{generation.status}"
    event_id = f"evt_{generation.id.hex}_{generation.status}"
    payload = _event_payload(event_id=event_id, event_type=event_type, generation=generation)
    created: list[WebhookDelivery] = []
    for endpoint in endpoints:
        try:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(
                    endpoint=endpoint,
                    event_type=event_type,
                    event_id=event_id,
                    payload=payload,
                    next_attempt_at=timezone.now(),
                )
        except IntegrityError:
            continue  # already emitted for this endpoint
        created.append(delivery)
        _enqueue_after_commit(delivery.pk)
    return created


def webhook_event_emit_on_commit(*, generation: Generation) -> None:
    """Emits a job's final event once the transaction that finished it commits (at once outside
    one): what settle, fail and cancel call, so the customer hears within moments. `generation`
    is the caller's copy, for its id, owner and key (which never change): the endpoints are read
    first, and the job's final row only for an owner who has one (most have none, and this runs
    in every settle).

    The beat sweep stays the backstop (a process that dies right here, a database hiccup); both
    emitting sends once, since a delivery is unique per (endpoint, event id).
    """

    def emit() -> None:
        try:
            endpoints = _endpoints_for(generation)
            if not endpoints:
                return
            final = Generation.objects.filter(pk=generation.pk).first()
            if final is not None:
                webhook_event_emit(generation=final, endpoints=endpoints)
        except Exception:
            # Never fail the settling that called us: the sweep emits it within 30 seconds.
            logger.exception("webhook event for generation %s left to the sweep", generation.pk)

    transaction.on_commit(emit)


def webhook_events_sweep(*, now: Any = None) -> int:
    """Emits the events of recently finished jobs whose owners have endpoints; returns how many.

    Beat runs it every 30 seconds, so an event leaves at most that long after the job ends even
    when nothing else emits it (a worker that died right after settling, say). It reads from a
    high-water mark kept in the cache, with a minute of overlap for transactions that committed
    late; emitting twice is harmless (deliveries are unique per endpoint and event).
    """
    now = now or timezone.now()
    mark = cache.get(_SWEEP_MARK_KEY)
    since = (mark - timedelta(seconds=60)) if mark else now - timedelta(minutes=10)
    finished = (
        Generation.objects.filter(
            finished_at__gte=since,
            finished_at__lte=now,
            status__in=Generation.FINAL_STATUSES,
            user__webhook_endpoints__is_active=True,
        )
        .distinct()
        .order_by("finished_at")
    )
    emitted = 0
    for generation in finished[:1000]:
        emitted += len(webhook_event_emit(generation=generation))
    cache.set(_SWEEP_MARK_KEY, now, timeout=None)
    return emitted


def _event_payload(*, event_id: str, event_type: str, generation: Generation) -> dict[str, Any]:
    # Image URLs are not included: they expire in an hour and a retry may come a day later.
    images = [
        {"id": str(image.id), "index": image.index, "seed": image.seed}
        for image in generation.images.filter(status="delivered", deleted_at__isnull=True)
    ]
    return {
        "id": event_id,
        "type": event_type,
        "created": int(time.time()),
        "data": {
            "id": str(generation.id),
            "object": "generation",
            "status": generation.status,
            "operation": generation.operation,
            "n": generation.n,
            "size": generation.size_label,
            "status_message": generation.status_message,
            "images": images,
        },
    }


def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Sends the same event again, as a new delivery with its own day of retries.

    The payload keeps its event id so the receiver can recognise a repeat.
    """
    replays = WebhookDelivery.objects.filter(
        endpoint_id=delivery.endpoint_id, event_id__startswith=f"{delivery.event_id}.replay"
    ).count()
    replay = WebhookDelivery.objects.create(
        endpoint_id=delivery.endpoint_id,
        event_type=delivery.event_type,
        event_id=f"{delivery.event_id}.replay{replays + 1}",
        payload=delivery.payload,
        next_attempt_at=timezone.now(),
    )
    _enqueue_after_commit(replay.pk)
    return replay


def _enqueue_after_commit(delivery_id: Any) -> None:
    transaction.on_commit(lambda: webhook_deliver_task.delay(str(delivery_id)))


# --- Delivery ----------------------------------------------------------------------------------


def webhook_deliver(*, delivery_id: Any) -> WebhookDelivery | None:
    """One try of a due delivery; None when it is not due (another try has it, or it is done)."""
    lease = timedelta(seconds=settings.WEBHOOK_TIMEOUT + 60)
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + lease)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    started = time.monotonic()
    status_code: int | None = None
    error = ""
    refused = False
    try:
        target = webhook_target_resolve(url=delivery.endpoint.url)
        status_code, error = _post(target=target, body=body, secret=delivery.endpoint.secret)
    except WebhookRefused as exc:
        refused, error = True, str(exc)
    duration_ms = int((time.monotonic() - started) * 1000)
    WebhookAttempt.objects.create(
        delivery=delivery, status_code=status_code, error=error, duration_ms=duration_ms
    )
    delivery = _delivery_record_try(
        delivery=delivery, status_code=status_code, error=error, refused=refused
    )
    metrics.webhook_delivery_tried(
        status=delivery.status, created_at=delivery.created_at, delivered_at=delivery.delivered_at
    )
    return delivery


def _delivery_record_try(
    *, delivery: WebhookDelivery, status_code: int | None, error: str, refused: bool
) -> WebhookDelivery:
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_status_code = status_code
    delivery.last_error = error
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = now
        delivery.next_attempt_at = None
    elif refused:
        # Not retried: the address will not become acceptable by waiting.
        delivery.status = WebhookDelivery.Status.REFUSED
        delivery.next_attempt_at = None
    else:
        backoff = RETRY_BACKOFF_SECONDS[min(delivery.attempts - 1, len(RETRY_BACKOFF_SECONDS) - 1)]
        next_try = now + timedelta(seconds=backoff)
        window_ends = delivery.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW)
        if next_try > window_ends or delivery.attempts > len(RETRY_BACKOFF_SECONDS):
            delivery.status = WebhookDelivery.Status.FAILED
            delivery.next_attempt_at = None
        else:
            delivery.next_attempt_at = next_try
    delivery.save(
        update_fields=[
            "attempts",
            "last_status_code",
            "last_error",
            "status",
            "delivered_at",
            "next_attempt_at",
            "updated_at",
        ]
    )
    return delivery


def webhook_target_resolve(*, url: str) -> ResolvedTarget:
    """Resolves the URL's host now and checks every address; raises WebhookRefused."""
    parts = urlsplit(url)
    allowed_schemes = {"https", "http"} if settings.WEBHOOKS_ALLOW_LOOPBACK else {"https"}
    if parts.scheme not in allowed_schemes:
        raise WebhookRefused(
            f"Refused: only https:// webhook URLs are called, not {parts.scheme}://."
        )
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WebhookRefused(f"Refused: the host name {host!r} does not resolve ({exc}).") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise WebhookRefused(f"Refused: the host name {host!r} does not resolve.")
    for address in addresses:
        _address_check(address)
    chosen = addresses[0]
    netloc_host = f"[{chosen}]" if chosen.version == 6 else str(chosen)
    netloc = f"{netloc_host}:{parts.port}" if parts.port else netloc_host
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    return ResolvedTarget(url=pinned, host=host, address=str(chosen))


def _address_check(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if address.is_loopback:
        if settings.WEBHOOKS_ALLOW_LOOPBACK:
            return
        raise WebhookRefused(f"Refused: {address} is a loopback address.")
    if address.is_link_local:
        # 169.254.169.254 and fd00:ec2::254 are where clouds serve instance credentials.
        raise WebhookRefused(f"Refused: {address} is a link-local (cloud metadata) address.")
    if address.is_private:
        raise WebhookRefused(f"Refused: {address} is a private network address.")
    if (
        address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global
    ):
        raise WebhookRefused(f"Refused: {address} is not a public internet address.")


def _post(*, target: ResolvedTarget, body: bytes, secret: str) -> tuple[int | None, str]:
    """POSTs to the checked address; (status code, error) — never raises for network trouble."""
    timestamp = int(time.time())
    headers = {
        "Host": target.host,
        "Content-Type": "application/json",
        "User-Agent": "Easel-Webhooks/1.0",
        SIGNATURE_HEADER: webhook_signature_header(secret=secret, body=body, timestamp=timestamp),
    }
    try:
        # The TLS name is the original host, so the certificate is checked against it.
        # trust_env=False: no proxy from the environment gets to choose where this goes.
        with httpx.Client(
            timeout=settings.WEBHOOK_TIMEOUT, follow_redirects=False, trust_env=False
        ) as client:
            response = client.post(
                target.url, content=body, headers=headers, extensions={"sni_hostname": target.host}
            )
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:_RESPONSE_EXCERPT]
    if 300 <= response.status_code < 400:
        return response.status_code, "Redirects are not followed: answer 2xx at the URL itself."
    if response.status_code >= 300:
        return response.status_code, response.text[:_RESPONSE_EXCERPT]
    return response.status_code, ""


# --- Signatures --------------------------------------------------------------------------------


def webhook_signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def webhook_signature_verify(
    *, secret: str, body: bytes, header: str, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: recompute the HMAC and refuse stale timestamps (replays)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = webhook_signature_header(secret=secret, body=body, timestamp=timestamp).split("v1=")[
        1
    ]
    return any(hmac.compare_digest(expected, candidate) for candidate in fields.get("v1", []))


def webhook_deliveries_due_ids(*, limit: int = 500) -> list[str]:
    """Deliveries whose next try is due (read by the beat sweep)."""
    return [
        str(pk)
        for pk in WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    ]
