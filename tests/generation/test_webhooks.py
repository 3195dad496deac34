"""Customer webhooks: endpoints API, signed deliveries to a real local HTTP server, retries,
the delivery log and replay, and every refusal of an address Easel must never call."""

import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services.api_keys import api_key_create
from generation.models import Generation, WebhookDelivery, WebhookEndpoint
from generation.services import webhooks
from generation.services.webhooks import (
    WebhookRefused,
    webhook_deliver,
    webhook_event_emit,
    webhook_signature_verify,
    webhook_target_resolve,
)
from generation.webhook_tasks import webhook_deliveries_due_task
from tests.factories import GenerationFactory, ImageFactory, UserFactory


class Receiver:
    """A real HTTP server on loopback that records what it receives and answers as told."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: list[tuple[int, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                receiver.requests.append(
                    {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length),
                    }
                )
                code, headers = receiver.answers.pop(0) if receiver.answers else (200, {})
                self.send_response(code)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def client(user):
    api = APIClient()
    api.force_authenticate(user)
    return api


def _finished_generation(*, user, api_key=None, status=Generation.Status.SUCCEEDED) -> Generation:
    generation = GenerationFactory.create(
        user=user, api_key=api_key, n=2, seed=42, status=status, finished_at=timezone.now()
    )
    for index in range(2):
        ImageFactory.create(
            generation=generation,
            index=index,
            seed=42 + index,
            storage_key=f"generations/{generation.id}/{index}.png",
        )
    return generation


# --- Endpoints API -----------------------------------------------------------------------------


def test_endpoint_crud_through_the_api(client, receiver, user):
    created = client.post("/api/v1/webhooks", {"url": receiver.url()}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["url"] == receiver.url() and body["secret"].startswith("whsec_")
    assert body["api_key"] is None

    listed = client.get("/api/v1/webhooks").json()["data"]
    assert [e["id"] for e in listed] == [body["id"]]

    paused = client.patch(f"/api/v1/webhooks/{body['id']}", {"is_active": False}, format="json")
    assert paused.status_code == 200 and paused.json()["is_active"] is False

    assert client.delete(f"/api/v1/webhooks/{body['id']}").status_code == 204
    assert not WebhookEndpoint.objects.filter(user=user).exists()


def test_endpoint_for_one_key(client, user, receiver):
    key = api_key_create(user=user, name="ci").key
    created = client.post(
        "/api/v1/webhooks", {"url": receiver.url(), "api_key": key.prefix}, format="json"
    )
    assert created.status_code == 201
    assert created.json()["api_key"] == key.prefix


def test_another_users_endpoint_is_not_found(client, receiver):
    stranger = UserFactory.create()
    endpoint = webhooks.webhook_endpoint_create(user=stranger, url=receiver.url())
    for response in (
        client.get(f"/api/v1/webhooks/{endpoint.id}"),
        client.delete(f"/api/v1/webhooks/{endpoint.id}"),
        client.get(f"/api/v1/webhooks/{endpoint.id}/deliveries"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/x", "https"),
        ("https://user:pw@hooks.example.com/x", "password"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://10.0.0.8/x", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
    ],
)
def test_creation_refuses_what_can_be_seen_in_the_url(client, settings, url, reason):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    response = client.post("/api/v1/webhooks", {"url": url}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "url" and reason in error["message"]
    assert not WebhookEndpoint.objects.exists()


# --- Delivery ----------------------------------------------------------------------------------


def test_event_is_signed_and_delivered_once_per_endpoint(
    user, receiver, django_capture_on_commit_callbacks
):
    key = api_key_create(user=user, name="app").key
    other_key = api_key_create(user=user, name="other").key
    account_wide = webhooks.webhook_endpoint_create(user=user, url=receiver.url("/all"))
    webhooks.webhook_endpoint_create(user=user, url=receiver.url("/app"), api_key=key)
    webhooks.webhook_endpoint_create(user=user, url=receiver.url("/other"), api_key=other_key)
    generation = _finished_generation(user=user, api_key=key)

    with django_capture_on_commit_callbacks(execute=True):
        webhook_event_emit(generation=generation)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_event_emit(generation=generation) == []  # a settle that runs twice

    assert sorted(r["path"] for r in receiver.requests) == ["/all", "/app"]
    received = next(r for r in receiver.requests if r["path"] == "/all")
    assert webhook_signature_verify(
        secret=account_wide.secret,
        body=received["body"],
        header=received["headers"]["Easel-Signature"],
    )
    payload = json.loads(received["body"])
    assert payload["type"] == "generation.succeeded"
    assert payload["data"]["id"] == str(generation.id)
    assert [image["seed"] for image in payload["data"]["images"]] == [42, 43]
    assert WebhookDelivery.objects.filter(status="succeeded").count() == 2


def test_signature_refuses_a_changed_body_and_an_old_timestamp():
    body = b'{"id":"evt_1"}'
    header = webhooks.webhook_signature_header(
        secret="whsec_x", body=body, timestamp=int(timezone.now().timestamp())
    )
    assert webhook_signature_verify(secret="whsec_x", body=body, header=header)
    assert not webhook_signature_verify(secret="whsec_x", body=body + b" ", header=header)
    assert not webhook_signature_verify(secret="whsec_y", body=body, header=header)
    old = webhooks.webhook_signature_header(secret="whsec_x", body=body, timestamp=1_000_000)
    assert not webhook_signature_verify(secret="whsec_x", body=body, header=old)


def test_failed_try_is_retried_with_backoff_then_delivered(
    user, receiver, django_capture_on_commit_callbacks
):
    webhooks.webhook_endpoint_create(user=user, url=receiver.url())
    receiver.answers = [(500, {}), (503, {})]
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = webhook_event_emit(generation=_finished_generation(user=user))
    delivery.refresh_from_db()
    assert (
        delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code == 500
    )
    wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
    assert 20 < wait <= 30

    webhook_deliveries_due_task()  # not due yet: nothing is sent
    assert len(receiver.requests) == 1

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhook_deliveries_due_task()
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.status == "pending"
    assert 100 < (delivery.next_attempt_at - timezone.now()).total_seconds() <= 120  # backs off

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    webhook_deliveries_due_task()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempts == 3
    assert [a.status_code for a in delivery.attempt_log.order_by("created_at")] == [500, 503, 200]


def test_gives_up_after_a_day(user, receiver):
    endpoint = webhooks.webhook_endpoint_create(user=user, url=receiver.url())
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="generation.succeeded",
        event_id="evt_old",
        payload={},
        next_attempt_at=timezone.now(),
        attempts=8,
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        created_at=timezone.now() - timedelta(hours=23)
    )
    receiver.answers = [(500, {})]
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert delivery.status == "failed" and delivery.next_attempt_at is None


def test_redirects_are_not_followed(user, receiver):
    endpoint = webhooks.webhook_endpoint_create(user=user, url=receiver.url("/moved"))
    receiver.answers = [(302, {"Location": receiver.url("/elsewhere")})]
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="generation.succeeded",
        event_id="evt_r",
        payload={"a": 1},
        next_attempt_at=timezone.now(),
    )
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert [r["path"] for r in receiver.requests] == ["/moved"]
    assert delivery.status == "pending" and delivery.last_status_code == 302
    assert "Redirects are not followed" in delivery.last_error


def test_delivery_log_and_replay_through_the_api(
    client, user, receiver, django_capture_on_commit_callbacks
):
    endpoint = webhooks.webhook_endpoint_create(user=user, url=receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        [delivery] = webhook_event_emit(generation=_finished_generation(user=user))
    log = client.get(f"/api/v1/webhooks/{endpoint.id}/deliveries").json()
    assert log["has_more"] is False
    assert log["data"][0]["status"] == "succeeded"
    assert log["data"][0]["attempt_log"][0]["status_code"] == 200

    with django_capture_on_commit_callbacks(execute=True):
        replayed = client.post(f"/api/v1/webhooks/deliveries/{delivery.id}/replay")
    assert replayed.status_code == 202
    assert len(receiver.requests) == 2
    first, second = (json.loads(r["body"]) for r in receiver.requests)
    assert first["id"] == second["id"]  # the receiver can tell it is the same event
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 2


def test_delivery_log_pages_with_a_cursor(client, user, receiver):
    endpoint = webhooks.webhook_endpoint_create(user=user, url=receiver.url())
    for index in range(5):
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_type="generation.succeeded",
            event_id=f"evt_{index}",
            payload={},
        )
    seen: list[str] = []
    cursor = ""
    while True:
        page = client.get(
            f"/api/v1/webhooks/{endpoint.id}/deliveries", {"limit": 2, "cursor": cursor}
        ).json()
        seen += [d["event_id"] for d in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert sorted(seen) == [f"evt_{i}" for i in range(5)] and len(seen) == 5
    bad = client.get(f"/api/v1/webhooks/{endpoint.id}/deliveries", {"cursor": "garbage"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "cursor"


# --- Refusals (production behaviour: WEBHOOKS_ALLOW_LOOPBACK off) ------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/x", "only https"),
        ("https://127.0.0.1/x", "loopback"),
        ("https://127.8.9.10/x", "loopback"),
        ("https://[::1]/x", "loopback"),
        ("https://[::ffff:127.0.0.1]/x", "loopback"),
        ("https://10.1.2.3/x", "private"),
        ("https://172.16.5.4/x", "private"),
        ("https://192.168.0.10/x", "private"),
        ("https://[fd12:3456::1]/x", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[fe80::1]/x", "link-local"),
        ("https://100.100.100.200/x", "not a public"),  # Alibaba's metadata, shared space
        ("https://0.0.0.0/x", "private"),  # "this host" on many systems
        ("https://224.0.0.1/x", "not a public"),
    ],
)
def test_delivery_time_check_refuses(settings, url, reason):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    with pytest.raises(WebhookRefused, match=reason):
        webhook_target_resolve(url=url)


def test_a_name_is_checked_after_dns_resolution(settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    # "localhost" looks harmless as text; it resolves to a loopback address.
    with pytest.raises(WebhookRefused, match="loopback"):
        webhook_target_resolve(url="https://localhost/x")


def test_dns_that_changes_after_creation_is_refused_at_delivery(
    settings, user, receiver, monkeypatch
):
    """DNS rebinding: public when saved, private when called. The check runs at delivery time."""
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    answers = {"hooks.customer.example": "93.184.216.34"}
    real_getaddrinfo = socket.getaddrinfo

    def fake_dns(host, port, *args, **kwargs):  # the one stand-in: there is no DNS server here
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(webhooks.socket, "getaddrinfo", fake_dns)
    endpoint = webhooks.webhook_endpoint_create(user=user, url="https://hooks.customer.example/x")
    assert webhook_target_resolve(url=endpoint.url).address == "93.184.216.34"

    answers["hooks.customer.example"] = "10.0.0.7"
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="generation.succeeded",
        event_id="evt_x",
        payload={},
        next_attempt_at=timezone.now(),
    )
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert delivery.status == "refused" and delivery.next_attempt_at is None
    assert "10.0.0.7" in delivery.last_error and "private" in delivery.last_error


def test_refused_delivery_never_reaches_the_server(settings, user, receiver):
    """With loopback refused, a name resolving to loopback gets no request at all."""
    endpoint = webhooks.webhook_endpoint_create(user=user, url=receiver.url(host="localhost"))
    settings.WEBHOOKS_ALLOW_LOOPBACK = False
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        url=endpoint.url.replace("http:", "https:")
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="generation.succeeded",
        event_id="evt_l",
        payload={},
        next_attempt_at=timezone.now(),
    )
    delivery = webhook_deliver(delivery_id=delivery.pk)
    assert delivery.status == "refused"
    assert receiver.requests == []
    assert delivery.attempt_log.get().status_code is None


def test_loopback_is_allowed_only_by_the_setting(settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    assert webhook_target_resolve(url="http://127.0.0.1:9/x").address == "127.0.0.1"
    with pytest.raises(WebhookRefused, match="private"):  # loopback only, never private
        webhook_target_resolve(url="http://10.0.0.1/x")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_tries_of_one_delivery_send_once(receiver):
    user = UserFactory.create()
    endpoint = webhooks.webhook_endpoint_create(user=user, url=receiver.url())
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_type="generation.succeeded",
        event_id="evt_c",
        payload={},
        next_attempt_at=timezone.now(),
    )
    barrier = threading.Barrier(4)
    results: list[object] = []

    def attempt() -> None:
        try:
            barrier.wait()
            results.append(webhook_deliver(delivery_id=delivery.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(receiver.requests) == 1
    assert sum(result is not None for result in results) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1 and delivery.status == "succeeded"


def test_sweep_emits_events_of_finished_jobs_once(
    user, receiver, django_capture_on_commit_callbacks
):
    """Whatever else happens, a finished job's event leaves within a beat interval."""
    webhooks.webhook_endpoint_create(user=user, url=receiver.url())
    finished = _finished_generation(user=user)
    _finished_generation(user=UserFactory.create())  # someone without endpoints: nothing to send
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.webhook_events_sweep() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks.webhook_events_sweep() == 0  # the next beat: already emitted
    [received] = receiver.requests
    assert json.loads(received["body"])["data"]["id"] == str(finished.id)


def test_a_delivery_whose_task_was_lost_or_whose_try_died_is_sent_by_the_sweep(
    user, receiver, django_capture_on_commit_callbacks
):
    """The delivery row is the outbox: a first task lost with the broker, or a try whose worker
    died after claiming it (its claim pushed the next try out by the timeout plus a minute)."""
    from django.conf import settings

    webhooks.webhook_endpoint_create(user=user, url=receiver.url())
    with django_capture_on_commit_callbacks(execute=False) as lost:
        [delivery] = webhook_event_emit(generation=_finished_generation(user=user))
    assert len(lost) == 1 and receiver.requests == []  # the task never ran
    webhook_deliveries_due_task()
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and len(receiver.requests) == 1

    with django_capture_on_commit_callbacks(execute=False):
        [again] = webhook_event_emit(generation=_finished_generation(user=user))
    died_at = timezone.now()
    WebhookDelivery.objects.filter(pk=again.pk).update(  # what a claim leaves behind
        next_attempt_at=died_at + timedelta(seconds=settings.WEBHOOK_TIMEOUT + 60)
    )
    webhook_deliveries_due_task()
    assert len(receiver.requests) == 1  # the dead try's claim still holds it
    WebhookDelivery.objects.filter(pk=again.pk).update(next_attempt_at=died_at)  # the lease ran out
    webhook_deliveries_due_task()
    again.refresh_from_db()
    assert again.status == "succeeded" and len(receiver.requests) == 2
