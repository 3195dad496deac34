"""The native API: 202 jobs, polling, SSE, cancel, images, preflight, provenance, idempotency."""

import io
import json
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from PIL import Image as PILImage

from accounts.services.api_keys import api_key_create
from billing.models import Reservation
from generation.models import Generation, IdempotencyRecord, Image
from generation.services.progress import channel_name, progress_publish
from generation.services.storage import storage_read
from tests.factories import GenerationFactory, ImageFactory
from tests.generation.api_helpers import balance, customer, png_bytes, upload
from tests.generation.credentials_helpers import active_manifest, manifest_actions, trusted_reader

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("request_thread")]


def _create(http, who, body=None, **headers):  # type: ignore[no-untyped-def]
    body = body or {"prompt": "a lighthouse at dusk", "n": 2, "size": "256x256"}
    return http.post(
        "/api/v1/generations", body, content_type="application/json", **headers, **who.auth
    )


# --- jobs --------------------------------------------------------------------------------------
# Non-transactional: the GPU task is queued on commit, which never comes, so jobs stay queued.


def test_create_answers_202_with_the_queued_job(http, pro):
    before = balance(pro.user)
    response = _create(http, pro)
    assert response.status_code == 202, response.content
    job = response.json()
    assert response["Location"] == f"/api/v1/generations/{job['id']}"
    assert job["status"] == "queued" and job["object"] == "generation"
    assert job["size"] == "256x256" and job["n"] == 2 and job["images"] == []
    assert job["queue"]["position"] == 0
    assert "estimated_start_seconds" in job["queue"]
    assert balance(pro.user) == before - job["credits_reserved"]
    assert response["x-ratelimit-remaining-requests"]


def test_queue_position_counts_the_jobs_ahead(http, settings):
    first, second = customer(settings=settings), customer(settings=settings)
    _create(http, first)
    _create(http, first, {"prompt": "another", "size": "256x256"})
    job = _create(http, second).json()
    assert job["queue"]["position"] == 2


def test_get_polls_and_hides_other_users_jobs(http, pro, settings):
    job = _create(http, pro).json()
    polled = http.get(f"/api/v1/generations/{job['id']}", **pro.auth)
    assert polled.status_code == 200 and polled.json()["id"] == job["id"]
    stranger = customer(settings=settings)
    response = http.get(f"/api/v1/generations/{job['id']}", **stranger.auth)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert http.post(f"/api/v1/generations/{job['id']}/cancel", **stranger.auth).status_code == 404
    assert Generation.objects.get(pk=job["id"]).status == "queued"


def test_a_running_job_reports_the_step_its_worker_last_published(http, pro):
    """The row's progress is written with the heartbeat (once a second), so a short job's row
    says step 0 while it runs; the worker publishes every step, and that is what a poll gets.
    Once final, the row's own progress is the answer again."""
    job = _create(http, pro).json()
    Generation.objects.filter(pk=job["id"]).update(
        status="running", progress_step=0, progress_total=4
    )
    progress_publish(generation_id=job["id"], status="running", step=3, total=4)
    polled = http.get(f"/api/v1/generations/{job['id']}", **pro.auth).json()
    assert polled["progress"] == {"step": 3, "total": 4}
    Generation.objects.filter(pk=job["id"]).update(status="failed")
    polled = http.get(f"/api/v1/generations/{job['id']}", **pro.auth).json()
    assert polled["progress"] == {"step": 0, "total": 4}


def test_cancel_a_queued_job_releases_its_credits(http, pro):
    before = balance(pro.user)
    job = _create(http, pro).json()
    canceled = http.post(f"/api/v1/generations/{job['id']}/cancel", **pro.auth)
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert balance(pro.user) == before
    again = http.post(f"/api/v1/generations/{job['id']}/cancel", **pro.auth)
    assert again.json()["status"] == "canceled" and balance(pro.user) == before


def test_bad_input_is_400_and_changes_nothing(http, pro, settings):
    before = balance(pro.user)
    for body, param in [
        ({"prompt": "a cat", "n": 11, "size": "256x256"}, "n"),
        ({"prompt": "a cat", "size": "300x300"}, "size"),
        ({"prompt": "x" * 1001, "size": "256x256"}, "prompt"),
        ({"operation": "paint", "prompt": "a cat"}, "operation"),
        ({"operation": "variation", "size": "256x256"}, "image"),
    ]:
        response = _create(http, pro, body)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"]["param"] == param
    assert not Generation.objects.exists() and balance(pro.user) == before


def test_variation_job_from_multipart(http, pro):
    response = http.post(
        "/api/v1/generations",
        {"operation": "variation", "size": "256x256", "image": upload("a.png", png_bytes(64))},
        **pro.auth,
    )
    assert response.status_code == 202, response.content
    assert response.json()["operation"] == "variation"


def test_idempotency_key_on_the_native_api(http, pro):
    before = balance(pro.user)
    first = _create(http, pro, HTTP_IDEMPOTENCY_KEY="job-1")
    again = _create(http, pro, HTTP_IDEMPOTENCY_KEY="job-1")
    assert again.status_code == 202 and again["idempotent-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert Generation.objects.count() == 1
    assert balance(pro.user) == before - first.json()["credits_reserved"]
    conflict = _create(
        http, pro, {"prompt": "something else", "size": "256x256"}, HTTP_IDEMPOTENCY_KEY="job-1"
    )
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_reused"
    assert Generation.objects.count() == 1


def test_idempotency_keys_are_per_user_and_expire_after_a_day(http, pro, settings):
    first = _create(http, pro, HTTP_IDEMPOTENCY_KEY="shared").json()
    other = customer(settings=settings)
    assert _create(http, other, HTTP_IDEMPOTENCY_KEY="shared").json()["id"] != first["id"]
    IdempotencyRecord.objects.filter(user=pro.user).update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    later = _create(http, pro, HTTP_IDEMPOTENCY_KEY="shared")
    assert later.status_code == 202 and later.json()["id"] != first["id"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_make_one_job_and_charge_once(
    settings, celery_enqueue_only
):
    """Six threads, each with its own PostgreSQL connection, send the same keyed request at once."""
    who = customer(settings=settings)
    before = balance(who.user)
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def send() -> None:
        try:
            barrier.wait()
            statuses.append(_create(Client(), who, HTTP_IDEMPOTENCY_KEY="race").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Generation.objects.filter(user=who.user).count() == 1
    generation = Generation.objects.get(user=who.user)
    assert Reservation.objects.filter(generation_id=generation.pk).count() == 1
    assert balance(who.user) == before - generation.credits_reserved
    assert set(statuses) <= {202, 409} and statuses.count(202) >= 1


# --- progress: Server-Sent Events --------------------------------------------------------------


@pytest.mark.parametrize("accept", ["*/*", "text/event-stream"])
def test_events_stream_ends_with_the_final_state(http, pro, accept):
    """`text/event-stream` is what an event-stream client (a browser's EventSource) sends."""
    job = _create(http, pro).json()
    Generation.objects.filter(pk=job["id"]).update(
        status="succeeded", progress_step=2, progress_total=2
    )
    response = http.get(f"/api/v1/generations/{job['id']}/events", HTTP_ACCEPT=accept, **pro.auth)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    text = b"".join(response).decode()
    events = [
        json.loads(line[len("data: ") :]) for line in text.splitlines() if line.startswith("data: ")
    ]
    assert events[-1]["status"] == "succeeded" and events[-1]["step"] == 2


def _wait_for_subscriber(channel: str) -> None:
    """Until the open stream listens on `channel`: a message published earlier reaches no one.
    Redis says so itself (PUBSUB NUMSUB), so no guess about how long the stream takes."""
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    deadline = time.monotonic() + 30
    while dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) == 0:
        assert time.monotonic() < deadline, f"nothing subscribed to {channel}"
        time.sleep(0.02)
    client.close()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_events_stream_follows_published_progress(settings):
    """Progress published on Redis while the stream is open reaches the client, in order."""
    who = customer(settings=settings)
    generation = Generation.objects.create(
        user=who.user,
        source="native_api",
        operation="generate",
        model="easel/tiny",
        prompt="p",
        n=1,
        size=256,
        width=256,
        height=256,
        steps=3,
        guidance_scale=0.0,
        seed=1,
    )

    def worker() -> None:
        _wait_for_subscriber(channel_name(generation_id=generation.pk))
        for step in (1, 2, 3):
            progress_publish(generation_id=generation.pk, status="running", step=step, total=3)
            time.sleep(0.05)
        Generation.objects.filter(pk=generation.pk).update(status="succeeded")
        progress_publish(generation_id=generation.pk, status="succeeded", step=3, total=3)
        connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    response = Client().get(f"/api/v1/generations/{generation.pk}/events", **who.auth)
    text = b"".join(response).decode()
    thread.join()
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert [(e["status"], e["step"]) for e in events] == [
        ("queued", 0),
        ("running", 1),
        ("running", 2),
        ("running", 3),
        ("succeeded", 3),
    ]


# --- images ------------------------------------------------------------------------------------


def _images(user, prompts: list[str]) -> list[Image]:  # type: ignore[no-untyped-def]
    made = []
    for number, prompt in enumerate(prompts):
        generation = GenerationFactory.create(
            user=user, prompt=prompt, seed=number, status="succeeded"
        )
        made.append(
            ImageFactory.create(
                generation=generation,
                seed=number,
                storage_key=f"generations/{generation.id}/0.png",
            )
        )
    return made


def test_images_list_pages_and_filters(http, pro, settings):
    made = _images(
        pro.user, ["a red fox", "a blue whale", "a red barn", "a green field", "red sky"]
    )
    _images(customer(settings=settings).user, ["a red fox of someone else"])
    seen, cursor = [], ""
    while True:
        page = http.get("/api/v1/images", {"limit": 2, "cursor": cursor}, **pro.auth).json()
        seen += [image["id"] for image in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen == [str(image.id) for image in reversed(made)]  # newest first, each once

    red = http.get("/api/v1/images", {"prompt": "RED"}, **pro.auth).json()["data"]
    assert sorted(i["prompt"] for i in red) == ["a red barn", "a red fox", "red sky"]
    assert all(i["url"].startswith(settings.SITE_URL) for i in red)

    Image.objects.filter(pk=made[0].pk).update(created_at=timezone.now() - timedelta(days=3))
    recent = http.get(
        "/api/v1/images",
        {"created_after": (timezone.now() - timedelta(days=1)).isoformat()},
        **pro.auth,
    ).json()["data"]
    assert str(made[0].id) not in {i["id"] for i in recent} and len(recent) == 4
    bad = http.get("/api/v1/images", {"created_after": "yesterday"}, **pro.auth)
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "created_after"


def test_image_get_and_delete(http, pro, settings):
    [image] = _images(pro.user, ["a red fox"])
    assert http.get(f"/api/v1/images/{image.id}", **pro.auth).json()["prompt"] == "a red fox"
    stranger = customer(settings=settings)
    assert http.delete(f"/api/v1/images/{image.id}", **stranger.auth).status_code == 404
    assert http.delete(f"/api/v1/images/{image.id}", **pro.auth).status_code == 204
    assert http.get(f"/api/v1/images/{image.id}", **pro.auth).status_code == 404
    image.refresh_from_db()
    assert image.deleted_at is not None and image.storage_key == ""


def test_read_only_key_cannot_create_or_delete(http, settings):
    reader = customer(scopes=["images.read"], settings=settings)
    [image] = _images(reader.user, ["x"])
    assert http.get("/api/v1/images", **reader.auth).status_code == 200
    assert _create(http, reader).status_code == 403
    assert http.delete(f"/api/v1/images/{image.id}", **reader.auth).status_code == 403


# --- preflight ---------------------------------------------------------------------------------


def test_preflight_costs_judges_and_stores_nothing(http, pro):
    from moderation.models import Decision

    before = balance(pro.user)
    decisions = Decision.objects.count()
    fine = http.post(
        "/api/v1/generations/preflight",
        {"prompt": "a lighthouse at dusk", "n": 3, "size": "1024x1024"},
        content_type="application/json",
        **pro.auth,
    )
    assert fine.status_code == 200, fine.content
    body = fine.json()
    from billing.selectors import generation_cost

    assert body["credits"] == generation_cost(pixels=1024 * 1024, n=3)
    assert body["policy"]["decision"] == "allow" and body["affordable"] is True
    assert body["estimated_wait_seconds"] == 0 and body["queue_position"] == 0

    blocked = http.post(
        "/api/v1/generations/preflight",
        {"prompt": "explicit pornographic nude sex scene", "size": "256x256"},
        content_type="application/json",
        **pro.auth,
    ).json()
    assert blocked["policy"]["decision"] == "block" and blocked["policy"]["message"]
    assert "pornographic" not in blocked["policy"]["message"]

    assert balance(pro.user) == before
    assert Decision.objects.count() == decisions  # no decision recorded, no strike counted
    assert not Generation.objects.exists()
    bad = http.post(
        "/api/v1/generations/preflight",
        {"prompt": "x", "n": 0},
        content_type="application/json",
        **pro.auth,
    )
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "n"


# --- provenance: a real image from the real pipeline -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_delivered_png_carries_content_credentials_and_anyone_can_check_it(settings):
    settings.EASEL_API_SHARED_THREAD_POOL = True
    who = customer(settings=settings)
    http = Client()
    job = _create(http, who, {"prompt": "a lighthouse at dusk", "size": "256x256"}).json()
    generation = Generation.objects.get(pk=job["id"])  # eager: the pipeline ran on commit
    assert generation.status == "succeeded", generation.status_message
    image = generation.images.get()
    original = storage_read(key=image.storage_key)

    # The delivered file, as the real worker wrote it: a manifest c2pa's Reader validates.
    reader = trusted_reader(original, "image/png")
    assert reader.get_validation_state() == "Trusted", reader.get_validation_results()
    manifest = active_manifest(reader)
    (created,) = manifest_actions(manifest)
    assert created["action"] == "c2pa.created" and created["softwareAgent"]["name"] == "easel/tiny"
    assert manifest["instance_id"] == f"urn:uuid:{image.pk}"
    assert "lighthouse" not in reader.detailed_json()  # no prompt

    buffer = io.BytesIO()
    PILImage.open(io.BytesIO(original)).convert("RGB").save(buffer, format="JPEG", quality=75)
    for name, data, found_by in [
        ("image.png", original, "content_credentials"),
        ("image.jpg", buffer.getvalue(), "watermark"),  # the re-save dropped the manifest
    ]:
        owner = http.post(
            "/api/v1/provenance/check", {"image": upload(name, data)}, **who.auth
        ).json()
        assert owner["made_by_easel"] is True and owner["found_by"] == found_by, name
        assert owner["image_id"] == str(image.id) and owner["generation_id"] == str(generation.id)
        assert owner["model"] == "easel/tiny" and owner["created_at"]
        # Anonymous: whether, when and which model; never which image or whose.
        anonymous = Client().post("/api/v1/provenance/check", {"image": upload(name, data)})
        assert anonymous.status_code == 200, anonymous.content
        public = anonymous.json()
        assert public["made_by_easel"] is True and public["model"] == "easel/tiny"
        assert public["created_at"] == owner["created_at"]
        assert public["image_id"] is None and public["generation_id"] is None
        other = customer(settings=settings)
        assert (
            http.post(
                "/api/v1/provenance/check", {"image": upload(name, data)}, **other.auth
            ).json()["image_id"]
            is None
        )

    # The owner's key without images.read: the answer anyone gets, not which image it is.
    generate_only = api_key_create(user=who.user, name="generate", scopes=["images.generate"])
    narrow = http.post(
        "/api/v1/provenance/check",
        {"image": upload("image.png", original)},
        HTTP_AUTHORIZATION=f"Bearer {generate_only.secret}",
    ).json()
    assert narrow["made_by_easel"] is True and narrow["image_id"] is None

    stranger = (
        Client()
        .post(
            "/api/v1/provenance/check", {"image": upload("other.png", png_bytes(256, mode="RGB"))}
        )
        .json()
    )
    assert stranger["made_by_easel"] is False and stranger["image_id"] is None
    broken = Client().post("/api/v1/provenance/check", {"image": upload("x.png", b"not an image")})
    assert broken.status_code == 400 and broken.json()["error"]["param"] == "image"


@pytest.mark.django_db
def test_anonymous_provenance_checks_are_rate_limited_per_address(settings):
    settings.EASEL_PROVENANCE_CHECKS_PER_MINUTE = 1
    address = "2001:db8:{:x}:{:x}::7".format(*divmod(uuid.uuid4().int % 2**32, 2**16))
    data = png_bytes(128, mode="RGB")
    first = Client(REMOTE_ADDR=address).post(
        "/api/v1/provenance/check", {"image": upload("a.png", data)}
    )
    assert first.status_code == 200
    refused = Client(REMOTE_ADDR=address).post(
        "/api/v1/provenance/check", {"image": upload("a.png", data)}
    )
    assert refused.status_code == 429 and int(refused["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
