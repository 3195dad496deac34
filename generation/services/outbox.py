"""Jobs whose GPU message was lost are sent again from PostgreSQL.

A queued job's message can vanish between the commit of its row and a worker's claim: the broker
was wiped (Redis FLUSHDB, a failover without persistence), the web process died between the
commit and the send, or the worker that had reserved the message died before claiming it (Redis
would give it back only after the visibility timeout, hours later). The row still says QUEUED,
so beat's `generation.jobs_resend` sends a new message for every job still queued
EASEL_GENERATION_RESEND_AFTER seconds after its last send.

A copy is harmless: whichever message a worker takes first claims the job (a conditional
QUEUED -> RUNNING update, generation/services/worker.py); the other finds it claimed and does
nothing. The price of sending blind is that a job waiting behind a long backlog gets one extra
message per period of the bound; each costs a worker one query.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from generation.models import Generation
from generation.services.generations import generation_enqueue

logger = logging.getLogger(__name__)


def generations_resend(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Send the GPU message again for queued jobs last sent before the bound; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.EASEL_GENERATION_RESEND_AFTER)
    waiting = (
        Generation.objects.filter(status=Generation.Status.QUEUED, sent_at__lt=cutoff)
        .order_by("sent_at")
        .values_list("pk", "sent_at")
    )
    sent = 0
    for generation_id, sent_at in list(waiting[:limit]):
        # Conditional on the time read, so two sweeps never both send one job.
        if Generation.objects.filter(
            pk=generation_id, status=Generation.Status.QUEUED, sent_at=sent_at
        ).update(sent_at=now):
            generation_enqueue(generation=Generation.objects.get(pk=generation_id))
            sent += 1
    if sent:
        logger.warning("re-sent %d queued jobs whose messages were not claimed", sent)
    return sent
