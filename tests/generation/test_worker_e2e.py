"""End to end: a real `celery -A config worker` process on PostgreSQL, the tiny model, and each
broker in turn: every test runs once on Redis and once on RabbitMQ (BROKER_URL=amqp://...).

One worker serves the whole module per broker (it loads the model once per child, as in
production). Jobs
are created with the real services; the test process only waits on the database and listens on
the Redis progress channels. Sizes are small and steps few so the module stays fast; the two jobs
that must be caught mid-flight (cancel, SIGKILL, time limit) take more steps.
"""

import contextlib
import io
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import redis
from django.conf import settings as django_settings
from PIL import Image as PILImage

from billing.models import LedgerEntry, Reservation
from billing.selectors import balance_summary
from billing.services.credits import credits_reserve
from generation.models import Generation, Image
from generation.selectors import generation_progress
from generation.services.generations import generation_cancel, generation_enqueue
from generation.services.storage import storage, storage_read
from tests.conftest import celery_broker, rabbitmq_url
from tests.factories import GenerationFactory, UserFactory, job_admit, limits_lifted
from tests.generation.conftest import picture_with_hole, png
from tests.generation.credentials_helpers import active_manifest, manifest_actions, trusted_reader
from tests.generation.live_server import gpu_worker_argv

pytestmark = [
    pytest.mark.redis,  # progress events and the cache are on Redis with either broker
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"succeeded", "failed", "blocked", "canceled"}


class Worker:
    def __init__(self, *, media: Path, log: Path, broker_url: str) -> None:
        database = django_settings.DATABASES["default"]
        url = (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT'] or 5432}/"
            f"{database['NAME']}"
        )
        self.hostname = f"e2e-{uuid.uuid4().hex[:8]}@%h"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": url,
            "REDIS_URL": django_settings.REDIS_URL,
            "BROKER_URL": broker_url,
            "MEDIA_ROOT": str(media),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "HF_HUB_OFFLINE": "1",
            "EASEL_LANE_PROMOTE_AFTER_SECONDS": "3600",
        }
        if database.get("PASSWORD"):
            env["PGPASSWORD"] = database["PASSWORD"]
        self.log = log
        self.process = subprocess.Popen(
            gpu_worker_argv(hostname=self.hostname),
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self._wait_for("ready.", timeout=90)

    def _wait_for(self, text: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log.read_text():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"worker never said {text!r}:\n{self.log.read_text()[-4000:]}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _queues_emptied(broker_url: str) -> None:
    """Messages left by an earlier, interrupted run would be taken as this run's jobs."""
    from kombu import Connection

    with Connection(broker_url) as connection:
        for queue in ("gpu", "default"):
            channel = connection.channel()
            try:
                channel.queue_purge(queue)
            except Exception:  # not declared yet: nothing to empty
                pass
            finally:
                with contextlib.suppress(Exception):
                    channel.close()


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("rabbitmq", marks=pytest.mark.rabbitmq),
    ],
)
def worker(request, django_db_setup, tmp_path_factory):  # type: ignore[no-untyped-def]
    from config.celery import app

    if (
        not django_settings.REDIS_URL
        or django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    ):
        pytest.skip("needs PostgreSQL and Redis")
    broker_url = django_settings.REDIS_URL if request.param == "redis" else rabbitmq_url()
    if broker_url is None:
        pytest.skip("needs RabbitMQ")  # the rabbitmq marker already failed it in CI
    _queues_emptied(broker_url)
    was_eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    folder = tmp_path_factory.mktemp(f"e2e-{request.param}")
    with celery_broker(broker_url):
        running = Worker(media=folder / "media", log=folder / "worker.log", broker_url=broker_url)
        yield running
        running.stop()
    app.conf.task_always_eager = was_eager


@pytest.fixture(autouse=True)
def _shared_media(worker, settings):  # type: ignore[no-untyped-def]
    """This process reads the files the worker wrote."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.MEDIA_ROOT = str(worker.log.parent / "media")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": settings.MEDIA_ROOT},
        },
    }


class Progress:
    """Every event published on generation:* while the test runs."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self._pubsub = redis.Redis.from_url(django_settings.REDIS_URL).pubsub()
        self._pubsub.psubscribe("generation:*")
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._stop = False
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop:
            message = self._pubsub.get_message(timeout=0.2)
            if message and message["type"] == "pmessage":
                self.events.append(json.loads(message["data"]))

    def of(self, generation_id) -> list[dict]:  # type: ignore[no-untyped-def]
        return [event for event in self.events if event["id"] == str(generation_id)]

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self._pubsub.close()


@pytest.fixture
def progress():  # type: ignore[no-untyped-def]
    listener = Progress()
    yield listener
    listener.close()


def wait_final(
    generation: Generation, *, timeout: float = 90, worker: Worker | None = None
) -> Generation:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation.refresh_from_db()
        if generation.status in FINAL:
            return generation
        time.sleep(0.2)
    log = worker.log.read_text()[-3000:] if worker else ""
    raise AssertionError(f"{generation.pk} still {generation.status} after {timeout}s\n{log}")


def wait_running(generation: Generation, *, step: int = 1, timeout: float = 60) -> Generation:
    """Until the job's published progress, what its listeners see, reaches `step` (the row's
    progress comes with the heartbeat, once a second)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = generation_progress(generation_id=generation.pk) or {}
        generation.refresh_from_db()
        if state.get("status") == "running" and state["step"] >= step:
            return generation
        assert generation.status not in FINAL, generation.status_message
        time.sleep(0.05)
    raise AssertionError(f"{generation.pk} never reached step {step}")


def pixels(image: Image) -> np.ndarray:
    """The picture at 1/16 scale: each watermark (its id differs per image) lives at periods
    of 4 to 17 pixels, which averaging 16 x 16 blocks all but removes."""
    picture = PILImage.open(io.BytesIO(storage_read(key=image.storage_key))).convert("RGB")
    return np.asarray(picture.reduce(16), float)


def create(user, **request) -> Generation:  # type: ignore[no-untyped-def]
    values = {
        "source": "native_api",
        "operation": "generate",
        "prompt": "a lighthouse",
        "n": 1,
        "size": 256,
        "steps": 2,
        **request,
    }
    return job_admit(user=limits_lifted(user), **values)  # about the worker, not the limits


def test_each_operation_n_images_seeds_and_progress(worker, progress):
    user = UserFactory()
    before = balance_summary(user=user).balance
    generated = create(user, n=2, seed=1000)
    edited = create(
        user,
        operation="edit",
        prompt="a door",
        seed=7,
        image_bytes=png(picture_with_hole(256, hole=(64, 64, 192, 192))),
    )
    varied = create(
        user, operation="variation", prompt="", n=2, seed=3, image_bytes=png(picture_with_hole(256))
    )
    again = create(user, n=1, seed=1000)
    for job in (generated, edited, varied, again):
        wait_final(job, worker=worker)
        assert job.status == "succeeded", job.status_message
        assert job.images.filter(status="delivered").count() == job.n
        assert [i.seed for i in job.images.order_by("index")] == [
            job.seed + i for i in range(job.n)
        ]
    # Each delivered file carries content credentials for what was done: created from text,
    # or edited from the uploaded input (its ingredient).
    for job, action in (
        (generated, "c2pa.created"),
        (edited, "c2pa.edited"),
        (varied, "c2pa.edited"),
    ):
        for image in job.images.all():
            reader = trusted_reader(storage_read(key=image.storage_key), "image/png")
            assert reader.get_validation_state() == "Trusted", reader.get_validation_results()
            manifest = active_manifest(reader)
            assert manifest_actions(manifest)[-1]["action"] == action
            assert len(manifest.get("ingredients", [])) == (action == "c2pa.edited")
    # The same seed gives the same picture, up to the watermarks.
    first = generated.images.get(index=0)
    assert np.abs(pixels(first) - pixels(again.images.get(index=0))).mean() < 2.0
    assert np.abs(pixels(first) - pixels(generated.images.get(index=1))).mean() > 5
    assert balance_summary(user=user).balance == before - 6
    # Progress: step i of N while running, then the completion with the image ids.
    time.sleep(0.5)
    events = progress.of(generated.pk)
    assert events[0]["status"] == "queued"
    running = [(e["step"], e["total"]) for e in events if e["status"] == "running"]
    assert running == [(1, 2), (2, 2)]
    assert events[-1]["status"] == "succeeded"
    assert sorted(events[-1]["images"]) == sorted(str(i.pk) for i in generated.images.all())


def test_a_long_job_keeps_its_heartbeat_fresh_while_it_runs(worker):
    """Heartbeats come once a second after the claim's: the stale sweep and a redelivery's
    `_holder_gone` see a long job alive, and its row's progress advances with them."""
    # 400 steps (past the API's cap of 50) run for many seconds on any machine.
    job = GenerationFactory(user=UserFactory(), prompt="a long one", steps=400, credits_reserved=1)
    credits_reserve(user=job.user, generation_id=job.pk, amount=1)
    generation_enqueue(generation=job)
    claimed = wait_running(job, step=1).heartbeat_at
    for beat in range(2):
        deadline = time.monotonic() + 60
        while job.heartbeat_at == claimed:
            assert job.status == "running", job.status
            assert time.monotonic() < deadline, f"heartbeat {beat + 1} never came"
            time.sleep(0.1)
            job.refresh_from_db()
        assert job.heartbeat_at > claimed and 0 < job.progress_step < 400
        claimed = job.heartbeat_at
    generation_cancel(generation=job)
    assert wait_final(job, worker=worker).status == "canceled"


def test_cancel_stops_a_running_job_and_releases(worker, progress):
    user = UserFactory()
    before = balance_summary(user=user).balance
    job = create(user, steps=40, prompt="a slow one")
    wait_running(job, step=1)
    generation_cancel(generation=job)
    wait_final(job, worker=worker)
    assert job.status == "canceled"
    assert job.progress_step < 40
    assert not job.images.filter(status="delivered").exists()
    assert balance_summary(user=user).balance == before
    assert progress.of(job.pk)[-1]["status"] == "canceled"


def test_a_worker_killed_mid_job_redelivers_and_finishes_once(worker):
    user = UserFactory()
    before = balance_summary(user=user).balance
    job = create(user, steps=30, n=2, prompt="survives a crash")
    wait_running(job, step=2)
    child_pid = int(job.worker_id.rpartition(":")[2])
    os.kill(child_pid, signal.SIGKILL)
    wait_final(job, timeout=120, worker=worker)
    assert job.status == "succeeded", job.status_message
    assert job.attempts == 2 and job.worker_id != f"{job.worker_id.rpartition(':')[0]}:{child_pid}"
    assert Image.objects.filter(generation=job).count() == 2
    assert sorted(storage().listdir(f"generations/{job.pk}")[1]) == ["0.png", "1.png"]
    reservation = Reservation.objects.get(generation_id=job.pk)
    assert reservation.captured == 2
    # Reserved once, captured once: the ledger holds no second hold or charge for the job.
    kinds = sorted(LedgerEntry.objects.filter(generation_id=job.pk).values_list("kind", flat=True))
    assert kinds.count("capture") <= 1 and kinds.count("reserve") <= 1, kinds
    assert balance_summary(user=user).balance == before - 2


def test_a_worker_killed_mid_delivery_redelivers_and_finishes_once(worker):
    """Killed while its delivery pool screens, marks and stores the images (after the pipeline
    call, before the settlement): the job is run again from its redelivered message, its
    images overwrite the same keys, and it is charged once."""
    user = UserFactory()
    before = balance_summary(user=user).balance
    job = create(user, n=4, size=512, steps=1, prompt="killed while delivering")
    deadline = time.monotonic() + 120
    # Each image's row is written as its delivery starts; the job settles after the last one.
    while not Image.objects.filter(generation=job).exists():
        job.refresh_from_db()
        assert job.status not in FINAL and time.monotonic() < deadline, job.status
        time.sleep(0.01)
    job.refresh_from_db()
    child_pid = int(job.worker_id.rpartition(":")[2])
    os.kill(child_pid, signal.SIGKILL)
    assert job.status == "running"  # killed mid-delivery, not after it
    assert Image.objects.filter(generation=job, status="delivered").count() < 4
    wait_final(job, timeout=180, worker=worker)
    assert job.status == "succeeded", job.status_message
    assert job.attempts == 2
    assert Image.objects.filter(generation=job, status="delivered").count() == 4
    assert sorted(storage().listdir(f"generations/{job.pk}")[1]) == [f"{i}.png" for i in range(4)]
    assert Reservation.objects.get(generation_id=job.pk).captured == 4
    kinds = sorted(LedgerEntry.objects.filter(generation_id=job.pk).values_list("kind", flat=True))
    assert kinds.count("capture") == 1 and kinds.count("reserve") == 1, kinds
    assert balance_summary(user=user).balance == before - 4


def test_a_job_past_its_time_limit_fails_and_releases(worker):
    user = UserFactory()
    before = balance_summary(user=user).balance
    # Made like admission does, but sent with a 2-second soft limit of its own.
    # 400 steps (past the API's cap of 50, so only a test can ask) take far longer than 2 s on
    # any machine, so the limit, not the machine's speed, decides how the job ends.
    job = GenerationFactory(user=user, prompt="too slow", steps=400, credits_reserved=1)
    credits_reserve(user=user, generation_id=job.pk, amount=1)
    assert balance_summary(user=user).balance == before - 1
    generation_enqueue(generation=job, soft_time_limit=2, time_limit=60)
    wait_final(job, worker=worker)
    assert job.status == "failed" and "time limit" in job.status_message
    assert job.progress_step < 400
    # The status is written first and the release right after it (generation_fail says why):
    # wait for the release rather than race it.
    deadline = time.monotonic() + 30
    while Reservation.objects.get(generation_id=job.pk).status != Reservation.Status.RELEASED:
        assert time.monotonic() < deadline, "the reservation was never released"
        time.sleep(0.1)
    assert balance_summary(user=user).balance == before


def test_a_pro_job_does_not_wait_behind_a_free_backlog(worker):
    from accounts.models import Tier

    free, pro = UserFactory(), UserFactory(tier=Tier.objects.get(name="pro"))
    blocker = create(free, steps=12, prompt="keeps the worker busy")  # other steps: not batched
    wait_running(blocker, step=1)
    backlog = [create(free, steps=2, prompt=f"free {i}") for i in range(3)]
    urgent = create(pro, steps=3, prompt="pro")  # other steps: never batched with the backlog
    for job in (blocker, *backlog, urgent):
        wait_final(job, worker=worker)
        assert job.status == "succeeded", job.status_message
    assert all(urgent.started_at < job.started_at for job in backlog)
    assert backlog[0].started_at > blocker.started_at  # and Free still ran
