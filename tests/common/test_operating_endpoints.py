"""The web's operating endpoints, read as Kubernetes and Prometheus read them: /healthz, /readyz
(real PostgreSQL, the real broker, the real prompt-screening model) and /metrics in Prometheus'
text format, with the fleet's state read from the database at scrape time.

Worker probes and worker metrics are read from real worker processes in
tests/platform/test_multihost.py.
"""

import json
import threading

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from billing.services.credits import credits_reserve
from common.errors import ContentPolicyViolation
from generation.models import WebhookDelivery, WebhookEndpoint
from moderation.services import screening
from moderation.services.screening import prompt_screen_warm
from tests.conftest import celery_broker
from tests.factories import GenerationFactory, UserFactory, job_admit

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db]


def scrape(client: Client, *, token: str = "") -> dict[tuple[str, tuple], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return sum(
        found
        for (sample, sample_labels), found in samples.items()
        if sample == name and set(labels.items()) <= set(sample_labels)
    )


def test_healthz_answers_without_touching_anything(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "alive"}
    assert client.post("/healthz").status_code == 405


def test_readyz_checks_the_database_the_broker_and_the_prompt_screen(client):
    prompt_screen_warm()  # the load a web process starts at its own start
    answer = client.get("/readyz")
    assert answer.status_code == 200, answer.content
    report = answer.json()
    assert report["status"] == "ready"
    assert set(report["checks"]) == {"database", "broker", "prompt_screening"}
    assert all(check["ok"] for check in report["checks"].values())


def test_readyz_is_503_and_says_why_when_the_broker_is_gone(client):
    with celery_broker("redis://127.0.0.1:1/0"):  # nothing listens on port 1
        answer = client.get("/readyz")
    assert answer.status_code == 503
    report = json.loads(answer.content)
    assert report["status"] == "not ready"
    assert report["checks"]["broker"]["ok"] is False
    assert "Connection" in report["checks"]["broker"]["detail"]
    assert report["checks"]["database"]["ok"] is True


def test_the_web_warms_its_job_sending_and_starts_without_a_broker(caplog):
    from config.celery import app
    from generation.services.generations import enqueue_warm

    enqueue_warm()  # what config/asgi.py does before serving
    assert app.finalized
    with celery_broker("redis://127.0.0.1:1/0"):  # nothing listens on port 1
        enqueue_warm()  # logged, not raised: the first send and /readyz deal with it
    assert "the broker could not be reached at start" in caplog.text


def test_readyz_is_503_while_the_prompt_screen_loads(client, monkeypatch):
    monkeypatch.setattr(screening, "_warm", threading.Event())  # a process that just started
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["prompt_screening"] == {
        "ok": False,
        "detail": "the prompt-screening model is still loading",
    }


def test_metrics_show_the_fleet_state_from_the_database(client):
    pro = UserFactory()
    waiting = GenerationFactory(user=pro, queue_lane=2, credits_reserved=1)
    GenerationFactory(user=pro, queue_lane=0)
    GenerationFactory(user=pro, queue_lane=0, status="running")
    credits_reserve(user=pro, generation_id=waiting.pk, amount=1)
    endpoint = WebhookEndpoint.objects.create(user=pro, url="https://example.invalid/hook")
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="generation.succeeded",
        event_id="evt_1",
        payload={},
        next_attempt_at=timezone.now(),
    )
    samples = scrape(client)
    assert value(samples, "easel_fleet_state_up") == 1
    assert value(samples, "easel_queue_depth", model="easel/tiny", lane="2") == 1
    assert value(samples, "easel_queue_depth", model="easel/tiny", lane="0") == 1
    assert value(samples, "easel_jobs_running", model="easel/tiny") == 1
    assert value(samples, "easel_queue_oldest_age_seconds", lane="2") >= 0
    assert value(samples, "easel_credit_reservations_open") == 1
    assert value(samples, "easel_credit_reservations_open_credits") == 1
    assert value(samples, "easel_webhook_deliveries_pending") == 1


def test_metrics_show_the_messages_waiting_on_the_broker(client):
    from kombu import Exchange, Producer
    from kombu import Queue as KombuQueue

    from config.celery import app

    gpu = KombuQueue("gpu", Exchange("gpu"), routing_key="gpu")
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        gpu(channel).declare()
        gpu(channel).purge()
        before = value(scrape(client), "easel_broker_queue_messages", queue="gpu")
        Producer(channel).publish({"probe": 1}, exchange=gpu.exchange, routing_key="gpu")
        try:
            after = value(scrape(client), "easel_broker_queue_messages", queue="gpu")
        finally:
            gpu(channel).purge()
    assert (before, after) == (0, 1)


def test_metrics_count_blocked_prompts_and_delivered_jobs(
    client, user, django_capture_on_commit_callbacks
):
    before = scrape(client)
    with pytest.raises(ContentPolicyViolation):
        job_admit(
            user=user,
            source="native_api",
            operation="generate",
            prompt="Taylor Swift on a beach",
            size=256,
        )
    with django_capture_on_commit_callbacks(execute=True):  # eager: the worker path runs here
        job = job_admit(
            user=user, source="native_api", operation="generate", prompt="a lighthouse", size=256
        )
    job.refresh_from_db()
    assert job.status == "succeeded", job.status_message
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("easel_moderation_decisions_total", stage="prompt", outcome="block") == 1
    assert grew("easel_moderation_decisions_total", stage="output", outcome="allow") == 1
    assert grew("easel_images_delivered_total", model="easel/tiny") == 1
    assert grew("easel_queue_wait_seconds_count", tier=user.tier.name) == 1
    assert (
        grew(
            "easel_job_duration_seconds_count",
            operation="generate",
            model="easel/tiny",
            outcome="succeeded",
        )
        == 1
    )


def test_metrics_need_the_token_when_one_is_set(client, settings):
    settings.EASEL_METRICS_TOKEN = "metrics-secret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert scrape(client, token="metrics-secret")


def test_readyz_waits_for_the_image_screening_models_when_they_preload(
    client, settings, monkeypatch
):
    import threading as threads

    from moderation.images import analysis

    settings.MODERATION_PRELOAD = True
    prompt_screen_warm()
    monkeypatch.setattr(analysis, "_models_loaded", threads.Event())  # a process just started
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["image_screening"] == {
        "ok": False,
        "detail": "the image-screening models are still loading",
    }
    analysis.image_models_load()  # what the preload thread does
    from common import health

    assert health.image_screening_ready().ok  # (one /readyz per test: it closes the connection)
