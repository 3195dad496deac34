"""A job reaching its final state emits its webhook event at once (on commit), not only at the
next beat sweep; the sweep then finds it already emitted and nothing is sent twice."""

import json

import pytest
from django.utils import timezone

from generation.models import Generation, WebhookDelivery
from generation.services import webhooks
from generation.services.generations import generation_cancel
from generation.services.worker import generation_fail, generation_settle
from tests.factories import UserFactory
from tests.generation.test_webhooks import Receiver

pytestmark = pytest.mark.django_db

WORKER = "gpu-host:4242"


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def user(db):  # type: ignore[no-untyped-def]
    return UserFactory()


def _job(*, user, status: str) -> Generation:  # type: ignore[no-untyped-def]
    return Generation.objects.create(
        user=user,
        source=Generation.Source.NATIVE_API,
        operation=Generation.Operation.GENERATE,
        model="easel/tiny",
        prompt="a lighthouse at dusk",
        n=1,
        size=256,
        width=256,
        height=256,
        steps=2,
        guidance_scale=0.0,
        seed=42,
        status=status,
        worker_id=WORKER if status == Generation.Status.RUNNING else "",
        heartbeat_at=timezone.now(),
    )


def _finish(case: str, job: Generation) -> None:
    if case == "cancel_queued":
        generation_cancel(generation=job)
    elif case == "cancel_running":
        assert generation_settle(generation=job, worker_id=WORKER, delivered=[], canceled=True)
    elif case == "blocked":
        assert generation_settle(generation=job, worker_id=WORKER, delivered=[])
    else:
        assert generation_fail(generation=job, worker_id=WORKER, message="It broke.")


@pytest.mark.parametrize(
    ("case", "start", "event"),
    [
        ("cancel_queued", "queued", "generation.canceled"),
        ("cancel_running", "running", "generation.canceled"),
        ("blocked", "running", "generation.blocked"),
        ("fail", "running", "generation.failed"),
    ],
)
def test_final_state_emits_at_once_and_the_sweep_does_not_resend(
    case, start, event, user, receiver, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    webhooks.webhook_endpoint_create(user=user, url=receiver.url())
    job = _job(user=user, status=start)

    with django_capture_on_commit_callbacks(execute=True):
        _finish(case, job)

    [delivery] = WebhookDelivery.objects.all()
    assert delivery.event_type == event and delivery.status == "succeeded"
    [received] = receiver.requests
    body = json.loads(received["body"])
    assert body["type"] == event and body["data"]["id"] == str(job.id)

    # The beat sweep and a second finish (a redelivered task) find it already emitted.
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.webhook_events_sweep() == 0
        if case == "cancel_queued":
            generation_cancel(generation=job)  # canceling twice changes nothing
    assert WebhookDelivery.objects.count() == 1 and len(receiver.requests) == 1


def test_a_user_without_endpoints_gets_nothing(user, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    job = _job(user=user, status="queued")
    with django_capture_on_commit_callbacks(execute=True):
        generation_cancel(generation=job)
    assert not WebhookDelivery.objects.exists()


def test_an_owner_without_endpoints_costs_the_settle_one_query(
    user, django_assert_num_queries, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    """Every settle emits: for the many owners with no endpoint, the emit reads the endpoints
    and stops there, without the job's final row."""
    another = UserFactory()
    webhooks.webhook_endpoint_create(user=another, url="https://hooks.example.com/easel")
    job = _job(user=user, status="running")
    with django_capture_on_commit_callbacks() as emits:
        assert generation_fail(generation=job, worker_id=WORKER, message="It broke.")
    [emit] = emits
    with django_assert_num_queries(1):
        emit()
    assert not WebhookDelivery.objects.exists()


def test_a_failing_emit_never_fails_the_settle(
    user, receiver, monkeypatch, django_capture_on_commit_callbacks
):  # type: ignore[no-untyped-def]
    """The job's state and money come first; the sweep sends the event later."""
    webhooks.webhook_endpoint_create(user=user, url=receiver.url())
    job = _job(user=user, status="running")

    def broken(**_: object) -> None:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(webhooks, "webhook_event_emit", broken)
    with django_capture_on_commit_callbacks(execute=True):
        assert generation_fail(generation=job, worker_id=WORKER, message="It broke.")
    assert Generation.objects.get(pk=job.pk).status == "failed"
    assert not WebhookDelivery.objects.exists()
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.webhook_events_sweep() == 1
    assert len(receiver.requests) == 1
