"""Every Celery queue Easel uses, in one place (STYLE.md: "queue from one enum")."""

from enum import StrEnum


class Queue(StrEnum):
    DEFAULT = "default"  # CPU work: webhooks, e-mail, sweeps, Stripe events
    GPU = "gpu"  # image generation on GPU workers
