"""System checks (`manage.py check`, run by `migrate` and the web server): the time limits, the
lease, the broker's visibility timeout and the reservation timeout must agree, or a failure
that the sweeps should bound would last hours, or a healthy job would be taken twice.
docs/generation.md ("Failures") gives the bounds they make."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register

# A RUNNING job's heartbeat comes between denoising steps, about once a second; the lease must
# leave room for the slowest step and the decode after the last one.
MIN_LEASE_SECONDS = 30


@register("easel")
def handoff_bounds_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    soft = settings.EASEL_GENERATION_SOFT_TIME_LIMIT
    hard = settings.EASEL_GENERATION_HARD_TIME_LIMIT
    lease = settings.EASEL_GENERATION_LEASE_SECONDS
    attempts = settings.EASEL_GENERATION_MAX_ATTEMPTS
    visibility = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}).get(
        "visibility_timeout"
    )
    errors: list[CheckMessage] = []
    if hard <= soft:
        errors.append(
            Error(
                f"EASEL_GENERATION_HARD_TIME_LIMIT ({hard}) must exceed "
                f"EASEL_GENERATION_SOFT_TIME_LIMIT ({soft}): the soft limit fails the job and "
                "releases its credits; the hard limit only kills what ignored it.",
                id="easel.E001",
            )
        )
    if lease < MIN_LEASE_SECONDS:
        errors.append(
            Error(
                f"EASEL_GENERATION_LEASE_SECONDS ({lease}) is below {MIN_LEASE_SECONDS}: a slow "
                "denoising step would look like a dead worker and the job would be taken over.",
                id="easel.E002",
            )
        )
    if visibility is not None and visibility <= hard + lease:
        errors.append(
            Error(
                f"CELERY_VISIBILITY_TIMEOUT ({visibility}) must exceed the hard time limit plus "
                f"the lease ({hard + lease}): Redis would hand a running job's message to a "
                "second worker while the first still runs it.",
                id="easel.E003",
            )
        )
    longest_job = attempts * (hard + lease) + settings.EASEL_GENERATION_RESEND_AFTER
    if longest_job >= settings.BILLING_RESERVATION_TIMEOUT:
        errors.append(
            Error(
                f"BILLING_RESERVATION_TIMEOUT ({settings.BILLING_RESERVATION_TIMEOUT}) must "
                f"exceed the longest a started job can hold its credits ({longest_job}: "
                "attempts x (hard limit + lease) + the re-send bound), or the sweep would "
                "release credits of a job still being run.",
                id="easel.E004",
            )
        )
    return errors
