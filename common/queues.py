"""Every Celery queue Easel uses, in one place ("queue from one enum"), and how a lane
becomes a message priority on the configured broker."""

from enum import StrEnum

from config.celery import app


class Queue(StrEnum):
    DEFAULT = "default"  # CPU work: webhooks, e-mail, sweeps, Stripe events
    GPU = "gpu"  # image generation on GPU workers


# Lanes are the tiers' queue_lane: 2 (paid, served first), 1 (normal), 0 (Free, low).
# Redis (Kombu's priority lists) serves 0 first; RabbitMQ's priority queues serve the highest
# first. The same three lanes, spaced so Kombu's Redis steps (0, 3, 6, 9) keep them apart.
_REDIS_LANE_PRIORITY = {2: 0, 1: 3, 0: 6}
_RABBITMQ_LANE_PRIORITY = {2: 9, 1: 6, 0: 3}


def broker_is_rabbitmq() -> bool:
    """Whether this process sends its tasks to RabbitMQ (BROKER_URL `amqp://...`)."""
    return str(app.conf.broker_url).startswith(("amqp://", "amqps://", "pyamqp://"))


def lane_priority(lane: int) -> int:
    """The Celery `priority` a job of this lane is sent with, on this broker."""
    table = _RABBITMQ_LANE_PRIORITY if broker_is_rabbitmq() else _REDIS_LANE_PRIORITY
    return table.get(lane, table[1])
