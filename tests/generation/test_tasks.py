"""The GPU task's service in this process (the tiny model for real): claim, batch, deliver, settle.

The same code under a real Celery worker process is in test_worker_e2e.py.
"""

import io
import os
import socket
import threading
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image as PILImage

from billing.models import Reservation
from billing.selectors import balance_summary
from generation.models import Generation, Image
from generation.provenance.watermark import id_prefix, watermark_read
from generation.selectors import generation_progress, image_signed_url
from generation.services.storage import storage, storage_read
from generation.services.worker import generation_claim, generation_run, stale_sweep
from moderation.models import Decision, PolicyVersion
from tests.factories import GenerationFactory, UserFactory, job_admit, limits_lifted

pytestmark = pytest.mark.django_db


def queued(user, django_capture_on_commit_callbacks, **request):  # type: ignore[no-untyped-def]
    """A job created for real (screened, reserved) whose task has not run yet; several may wait
    at once (the tests here are about the queue, not the tier's limits)."""
    limits_lifted(user)
    values = {"prompt": "a lighthouse at dusk", "n": 1, "size": 256, "steps": 1, **request}
    with django_capture_on_commit_callbacks(execute=False):
        return job_admit(user=user, source="native_api", operation="generate", **values)


def test_the_eager_task_delivers_marked_images_and_captures_credits(
    user, django_capture_on_commit_callbacks
):
    before = balance_summary(user=user).balance
    with django_capture_on_commit_callbacks(execute=True):
        generation = job_admit(
            user=user,
            source="web",
            operation="generate",
            prompt="a red boat",
            n=2,
            size=256,
            seed=77,
            steps=1,
        )
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED, generation.status_message
    images = list(generation.images.order_by("index"))
    assert [(i.index, i.seed, i.status) for i in images] == [
        (0, 77, "delivered"),
        (1, 78, "delivered"),
    ]
    for image in images:
        picture = PILImage.open(io.BytesIO(storage_read(key=image.storage_key)))
        assert picture.size == (256, 256) and picture.text["easel:seed"] == str(image.seed)
        assert watermark_read(picture).id_prefix == id_prefix(image.pk)
        assert image_signed_url(image=image).startswith("http")
    assert balance_summary(user=user).balance == before - 2
    assert Reservation.objects.get(generation_id=generation.pk).captured == 2
    assert generation_progress(generation_id=generation.pk)["status"] == "succeeded"


def test_a_second_delivery_of_a_finished_job_does_nothing(user, django_capture_on_commit_callbacks):
    generation = queued(user, django_capture_on_commit_callbacks)
    assert generation_run(generation_id=generation.pk) == [str(generation.pk)]
    keys = sorted(str(path) for path in storage().listdir(f"generations/{generation.pk}")[1])
    assert generation_run(generation_id=generation.pk) == []
    assert Image.objects.filter(generation=generation).count() == 1
    assert sorted(storage().listdir(f"generations/{generation.pk}")[1]) == keys


def test_compatible_queued_jobs_run_in_one_batch(user, django_capture_on_commit_callbacks):
    other_user = UserFactory()
    first = queued(user, django_capture_on_commit_callbacks, n=2, seed=5)
    second = queued(other_user, django_capture_on_commit_callbacks, n=3, seed=9)
    different = queued(user, django_capture_on_commit_callbacks, size=512)  # not compatible
    settled = generation_run(generation_id=first.pk, worker_id="test-host:1")
    assert set(settled) == {str(first.pk), str(second.pk)}
    for job in (first, second):
        job.refresh_from_db()
        assert job.status == Generation.Status.SUCCEEDED and job.worker_id == "test-host:1"
        assert job.images.filter(status="delivered").count() == job.n
    different.refresh_from_db()
    assert different.status == Generation.Status.QUEUED
    # Batched or alone, a seed gives the same image (up to float rounding and the watermarks,
    # which differ by image id and average out over 16 x 16 blocks).
    alone = queued(user, django_capture_on_commit_callbacks, n=1, seed=9)
    generation_run(generation_id=alone.pk)
    pixels = [
        np.asarray(
            PILImage.open(io.BytesIO(storage_read(key=job.images.get(index=0).storage_key)))
            .convert("RGB")
            .reduce(16),
            float,
        )
        for job in (second, alone, first)
    ]
    assert np.abs(pixels[0] - pixels[1]).mean() < 2.0
    assert np.abs(pixels[0] - pixels[2]).mean() > 5  # another seed: another picture


def test_withheld_images_are_never_stored_nor_charged(user, django_capture_on_commit_callbacks):
    generation = queued(user, django_capture_on_commit_callbacks, n=2)
    before = balance_summary(user=user).balance
    current = PolicyVersion.objects.order_by("-version").first()
    rules = {**current.rules, "sexual": {**current.rules["sexual"], "image_threshold": 0.0}}
    PolicyVersion.objects.create(
        version=current.version + 1, rules=rules, reason="test: withhold all"
    )
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.BLOCKED
    assert generation.withheld_count == 2 and generation.credits_captured == 0
    assert all(i.status == "withheld" and i.storage_key == "" for i in generation.images.all())
    assert not storage().exists(f"generations/{generation.pk}/0.png")
    assert image_signed_url(image=generation.images.first()) is None
    assert balance_summary(user=user).balance == before + 2  # the reservation came back


def test_an_image_that_cannot_be_signed_is_not_delivered(
    user, settings, django_capture_on_commit_callbacks, tmp_path
):
    """No certificate, no delivery: every image carries content credentials or none goes out."""
    settings.EASEL_C2PA_CERTIFICATE = str(tmp_path / "missing-chain.pem")
    generation = queued(user, django_capture_on_commit_callbacks)
    before = balance_summary(user=user).balance
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "No credits" in generation.status_message
    assert not storage().exists(f"generations/{generation.pk}/0.png")
    assert balance_summary(user=user).balance == before + 1  # the reservation came back


def test_a_model_that_cannot_load_fails_the_job_and_releases(
    user, settings, django_capture_on_commit_callbacks, tmp_path
):
    from generation.inference.pipelines import pipeline_cache_clear

    settings.EASEL_MODELS = {
        **settings.EASEL_MODELS,
        "broken/model": {
            "source": str(tmp_path / "nothing"),
            "native_size": 256,
            "default_steps": 1,
            "guidance_scale": 0.0,
            "scheduler": "",
            "operations": ["generate"],
        },
    }
    generation = queued(user, django_capture_on_commit_callbacks, model="broken/model")
    before = balance_summary(user=user).balance
    generation_run(generation_id=generation.pk)
    pipeline_cache_clear()
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "broken/model" in generation.status_message and "No credits" in generation.status_message
    assert balance_summary(user=user).balance == before + 1


def test_a_cancel_that_races_the_claim_stops_at_the_first_step(
    user, django_capture_on_commit_callbacks
):
    generation = queued(user, django_capture_on_commit_callbacks, steps=2)
    Generation.objects.filter(pk=generation.pk).update(
        cancel_requested=True
    )  # the worker already holds it
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELED
    assert (
        Reservation.objects.get(generation_id=generation.pk).status == Reservation.Status.RELEASED
    )
    assert not generation.images.filter(status="delivered").exists()


def test_a_job_held_by_a_dead_process_is_reclaimed_and_by_a_live_one_is_not(
    user, django_capture_on_commit_callbacks
):
    generation = queued(user, django_capture_on_commit_callbacks)
    host = socket.gethostname()
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING,
        worker_id=f"{host}:{os.getppid()}",
        heartbeat_at=timezone.now(),
        attempts=1,
    )
    assert generation_claim(generation_id=generation.pk, worker_id="me:1") is None  # parent lives
    Generation.objects.filter(pk=generation.pk).update(worker_id=f"{host}:4194999")  # no such pid
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED and generation.attempts == 2


def test_the_attempt_cap_fails_a_job_that_keeps_killing_workers(
    user, settings, django_capture_on_commit_callbacks
):
    generation = queued(user, django_capture_on_commit_callbacks)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING,
        worker_id=f"{socket.gethostname()}:4194999",
        heartbeat_at=timezone.now(),
        attempts=settings.EASEL_GENERATION_MAX_ATTEMPTS,
    )
    generation_run(generation_id=generation.pk)
    generation.refresh_from_db()
    assert (
        generation.status == Generation.Status.FAILED and "not retried" in generation.status_message
    )
    assert (
        Reservation.objects.get(generation_id=generation.pk).status == Reservation.Status.RELEASED
    )


def test_the_stale_sweep_fails_silent_jobs_and_releases(user, django_capture_on_commit_callbacks):
    generation = queued(user, django_capture_on_commit_callbacks)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING,
        worker_id="elsewhere:1",
        heartbeat_at=timezone.now() - timedelta(hours=2),
    )
    assert stale_sweep() == 1
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert (
        Reservation.objects.get(generation_id=generation.pk).status == Reservation.Status.RELEASED
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_claim_a_job_exactly_once():
    user = UserFactory()
    generation = GenerationFactory(user=user, source="web", prompt="a cat", steps=1)
    barrier = threading.Barrier(6)
    winners = []

    def deliver(number: int) -> None:
        barrier.wait()
        try:
            if generation_claim(generation_id=generation.pk, worker_id=f"elsewhere:{number}"):
                winners.append(number)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    generation.refresh_from_db()
    assert generation.attempts == 1 and generation.worker_id == f"elsewhere:{winners[0]}"


def test_a_worker_that_lost_its_claim_cannot_fail_or_settle_the_job(
    user, django_capture_on_commit_callbacks
):
    from generation.services.worker import generation_fail, generation_settle

    generation = queued(user, django_capture_on_commit_callbacks)
    holder = generation_claim(generation_id=generation.pk, worker_id="new-holder:1")
    assert holder is not None
    assert not generation_fail(generation=holder, worker_id="old-holder:1", message="late")
    assert not generation_settle(
        generation=holder, worker_id="old-holder:1", delivered=[], canceled=True
    )
    holder.refresh_from_db()
    assert holder.status == Generation.Status.RUNNING
    assert (
        Reservation.objects.get(generation_id=generation.pk).status == Reservation.Status.RESERVED
    )


def test_taking_over_from_a_dead_worker_takes_its_whole_batch(
    user, django_capture_on_commit_callbacks
):
    first = queued(user, django_capture_on_commit_callbacks, seed=1)
    second = queued(user, django_capture_on_commit_callbacks, seed=2)
    dead = f"{socket.gethostname()}:4194999"
    Generation.objects.filter(pk__in=[first.pk, second.pk]).update(
        status=Generation.Status.RUNNING, worker_id=dead, heartbeat_at=timezone.now(), attempts=1
    )
    # The second job's own message was consumed while the dead worker held it: only the first's
    # redelivery remains, and it must settle both.
    generation_run(generation_id=first.pk, worker_id="new:1")
    for job in (first, second):
        job.refresh_from_db()
        assert job.status == Generation.Status.SUCCEEDED and job.attempts == 2


def test_a_job_held_by_a_live_worker_elsewhere_is_looked_at_again_later(
    user, django_capture_on_commit_callbacks
):
    from generation.services.worker import HeldElsewhere

    generation = queued(user, django_capture_on_commit_callbacks)
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.RUNNING, worker_id="other-machine:12", heartbeat_at=timezone.now()
    )
    with pytest.raises(HeldElsewhere) as raised:
        generation_run(generation_id=generation.pk, worker_id="me:1")
    assert 100 < raised.value.retry_in <= 122


def test_a_batch_mates_message_after_its_job_was_settled_here_costs_one_query(
    user, django_capture_on_commit_callbacks, django_assert_num_queries
):
    """A batch's other jobs settle with the first one's task; their own messages come after,
    one by one, and each is answered by one read of the job."""
    first = queued(user, django_capture_on_commit_callbacks, seed=1)
    mate = queued(user, django_capture_on_commit_callbacks, seed=2)
    assert sorted(generation_run(generation_id=first.pk, worker_id="here:1")) == sorted(
        [str(first.pk), str(mate.pk)]
    )
    with django_assert_num_queries(1):
        assert generation_run(generation_id=mate.pk, worker_id="here:1") == []
    canceled = queued(user, django_capture_on_commit_callbacks, seed=3)
    Generation.objects.filter(pk=canceled.pk).update(status=Generation.Status.CANCELED)
    with django_assert_num_queries(1):  # canceled in the queue: never held by anyone
        assert generation_run(generation_id=canceled.pk, worker_id="here:1") == []


def test_a_redelivered_settled_job_takes_over_the_later_batches_of_its_dead_worker(
    user, django_capture_on_commit_callbacks
):
    """Pipelining: the first batch settled, then the worker died holding the next one. Only the
    first job's message comes back (the others' were consumed while it lived)."""
    first = queued(user, django_capture_on_commit_callbacks, seed=1)
    later = queued(user, django_capture_on_commit_callbacks, seed=2)
    dead = f"{socket.gethostname()}:4194999"
    Generation.objects.filter(pk=first.pk).update(
        status=Generation.Status.SUCCEEDED, worker_id=dead, attempts=1
    )
    Generation.objects.filter(pk=later.pk).update(
        status=Generation.Status.RUNNING, worker_id=dead, heartbeat_at=timezone.now(), attempts=1
    )
    assert generation_run(generation_id=first.pk, worker_id="new:1") == [str(later.pk)]
    later.refresh_from_db()
    assert later.status == Generation.Status.SUCCEEDED and later.attempts == 2
    assert Reservation.objects.get(generation_id=later.pk).captured == 1
    # A live holder keeps its jobs.
    again = queued(user, django_capture_on_commit_callbacks, seed=3)
    Generation.objects.filter(pk=again.pk).update(
        status=Generation.Status.RUNNING,
        worker_id=f"{socket.gethostname()}:{os.getppid()}",
        heartbeat_at=timezone.now(),
    )
    Generation.objects.filter(pk=first.pk).update(
        worker_id=f"{socket.gethostname()}:{os.getppid()}"
    )
    assert generation_run(generation_id=first.pk, worker_id="new:1") == []


@pytest.fixture
def delivery_pool():  # type: ignore[no-untyped-def]
    """The worker's delivery pool, stopped afterwards so its connections do not hold the test
    database open."""
    from generation.services.deliveries import deliveries_shutdown

    yield
    deliveries_shutdown()


def committed_job(user, **fields) -> Generation:  # type: ignore[no-untyped-def]
    """A queued job with its credits reserved, committed (so the delivery pool's connections see
    it), whose task has not run."""
    from billing.services.credits import credits_reserve

    values = {
        "prompt": "a lighthouse at dusk",
        "n": 1,
        "size": 256,
        "width": 256,
        "height": 256,
        "steps": 1,
        "guidance_scale": 0.0,
        **fields,
    }
    job = Generation.objects.create(
        user=user,
        source="native_api",
        operation="generate",
        model="easel/tiny",
        credits_reserved=values["n"],
        **values,
    )
    credits_reserve(user=user, generation_id=job.pk, amount=values["n"])
    return job


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pipelined_batches_are_each_delivered_and_charged_once(settings, delivery_pool):
    from billing.models import LedgerEntry

    settings.EASEL_BATCH_MAX_IMAGES = 2
    settings.EASEL_WORKER_PIPELINE = True
    user = UserFactory()
    before = balance_summary(user=user).balance
    jobs = [committed_job(user, seed=10 * number, n=1 + number % 2) for number in range(5)]
    # One delivery: its batch, then the next ones while the last is delivered beside them.
    settled = generation_run(generation_id=jobs[0].pk, worker_id="test-host:1")
    assert set(settled) == {str(job.pk) for job in jobs}
    for job in jobs:
        job.refresh_from_db()
        assert job.status == Generation.Status.SUCCEEDED, job.status_message
        assert job.images.filter(status="delivered").count() == job.n
        assert sorted(storage().listdir(f"generations/{job.pk}")[1]) == [
            f"{index}.png" for index in range(job.n)
        ]
        kinds = list(
            LedgerEntry.objects.filter(generation_id=job.pk).values_list("kind", flat=True)
        )
        assert kinds.count("capture") == 1, kinds
        assert generation_run(generation_id=job.pk, worker_id="test-host:1") == []
    assert balance_summary(user=user).balance == before - sum(job.n for job in jobs)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pipelined_withheld_images_are_never_stored_nor_charged(settings, delivery_pool):
    settings.EASEL_BATCH_MAX_IMAGES = 2
    settings.EASEL_WORKER_PIPELINE = True
    user = UserFactory()
    jobs = [committed_job(user, seed=number, n=2) for number in range(2)]
    before = balance_summary(user=user).balance
    current = PolicyVersion.objects.order_by("-version").first()
    rules = {**current.rules, "sexual": {**current.rules["sexual"], "image_threshold": 0.0}}
    PolicyVersion.objects.create(
        version=current.version + 1, rules=rules, reason="test: withhold all"
    )
    generation_run(generation_id=jobs[0].pk)
    for job in jobs:
        job.refresh_from_db()
        assert job.status == Generation.Status.BLOCKED and job.credits_captured == 0
        assert all(i.status == "withheld" and i.storage_key == "" for i in job.images.all())
        assert not storage().exists(f"generations/{job.pk}/0.png")
    assert balance_summary(user=user).balance == before + 4  # the reservations came back


def _nsfw_scores_of_batch(jobs: list[Generation]) -> list[float]:
    """The NSFW score of each picture the worker will make for these jobs, batched as it will
    batch them: the same call on the same seeds gives the same pictures."""
    from generation.inference.operations import BatchJob, run_batch
    from moderation.images.nsfw import nsfw_scores

    batch = [
        BatchJob(prompt=job.prompt, seeds=[job.seed + i for i in range(job.n)]) for job in jobs
    ]
    first = jobs[0]
    run_batch(
        model_id=first.model,
        operation=first.operation,
        width=first.width,
        height=first.height,
        steps=first.steps,
        guidance_scale=first.guidance_scale,
        jobs=batch,
    )
    return nsfw_scores([picture for batch_job in batch for picture in batch_job.images])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelined", "serial"])
def test_a_batch_with_one_blocked_image_withholds_that_one_and_charges_the_rest(
    settings, delivery_pool, pipelined
):
    """The batch's images are screened in one call; the NSFW threshold is set between the two
    highest scores of its three pictures, so exactly one of them is over it."""
    settings.EASEL_BATCH_MAX_IMAGES = 3
    settings.EASEL_WORKER_PIPELINE = pipelined
    user = UserFactory()
    jobs = [committed_job(user, seed=5, n=2), committed_job(user, seed=11, n=1)]
    scores = _nsfw_scores_of_batch(jobs)
    highest, second = sorted(scores, reverse=True)[:2]
    assert highest > 1.2 * second  # far enough apart for the threshold to tell them apart
    blocked = scores.index(highest)
    current = PolicyVersion.objects.order_by("-version").first()
    threshold = (highest * second) ** 0.5
    rules = {**current.rules, "sexual": {**current.rules["sexual"], "image_threshold": threshold}}
    PolicyVersion.objects.create(version=current.version + 1, rules=rules, reason="test")
    before = balance_summary(user=user).balance

    settled = generation_run(generation_id=jobs[0].pk, worker_id="test-host:1")

    assert set(settled) == {str(job.pk) for job in jobs}
    images = [image for job in jobs for image in job.images.order_by("index")]
    assert [image.status for image in images] == [
        "withheld" if position == blocked else "delivered" for position in range(3)
    ]
    withheld = images[blocked]
    assert withheld.storage_key == ""
    assert not storage().exists(f"generations/{withheld.generation_id}/{withheld.index}.png")
    decision = Decision.objects.get(image_id=withheld.pk)
    assert decision.outcome == "block" and decision.scores["nsfw"] >= round(threshold, 4)
    for job in jobs:
        job.refresh_from_db()
        delivered = job.images.filter(status="delivered").count()
        # A job whose every image was withheld is blocked, the others succeed.
        status = Generation.Status.SUCCEEDED if delivered else Generation.Status.BLOCKED
        assert job.status == status, job.status_message
        assert job.withheld_count == job.n - delivered
        assert Reservation.objects.get(generation_id=job.pk).captured == delivered
        for image in job.images.all():
            stored = storage().exists(f"generations/{job.pk}/{image.index}.png")
            assert stored == (image.status == "delivered")
    assert Decision.objects.filter(image_id__in=[image.pk for image in images]).count() == 3
    # Three reserved: the withheld image's credit came back, the two delivered were charged.
    assert balance_summary(user=user).balance == before + 1
