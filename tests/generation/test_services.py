"""Admission and friends: validation that changes nothing, reservation, cancel, images."""

import io
import struct
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from PIL import Image as PILImage

from billing.models import Reservation
from billing.selectors import balance_summary
from common.errors import ContentPolicyViolation, InvalidRequest
from generation.models import Generation, Image, Share
from generation.services.generations import generation_cancel, lanes_promote
from generation.services.images import image_delete, image_restore, image_take_down
from generation.services.storage import image_key, storage, storage_write
from generation.services.uploads import upload_validate
from tests.factories import GenerationFactory, ImageFactory, job_admit
from tests.generation.conftest import picture_with_hole, png

pytestmark = pytest.mark.django_db


def gif_bytes() -> bytes:
    buffer = io.BytesIO()
    picture_with_hole(256).convert("RGB").save(buffer, format="GIF")
    return buffer.getvalue()


def bomb_bytes(side: int = 20000) -> bytes:
    """A valid, tiny PNG that would decode to side x side pixels (400 MB at 20000)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def noise_png(side: int, megabytes: float) -> bytes:
    """An incompressible RGBA PNG of at least `megabytes`."""
    import numpy as np

    pixels = np.random.default_rng(1).integers(0, 255, (side, side, 4), dtype=np.uint8)
    data = png(PILImage.fromarray(pixels, mode="RGBA"))
    assert len(data) >= megabytes * 2**20
    return data


BAD_UPLOADS = [
    ("gif sent as png", lambda: {"image_bytes": gif_bytes()}, "image", "PNG, JPEG or WebP"),
    (
        "wider than 3:1",
        lambda: {"image_bytes": png(picture_with_hole(256).crop((0, 0, 256, 80)))},
        "image",
        "3:1",
    ),
    ("over 20 MB", lambda: {"image_bytes": noise_png(2300, 20)}, "image", "20 MB"),
    (
        "truncated",
        lambda: {"image_bytes": png(picture_with_hole(256, hole=(0, 0, 9, 9)))[:-2000]},
        "image",
        "truncated",
    ),
    ("decompression bomb", lambda: {"image_bytes": bomb_bytes()}, "image", "too large"),
    ("5000 px canvas", lambda: {"image_bytes": bomb_bytes(5000)}, "image", "too large"),
    (
        "no alpha, no mask",
        lambda: {"image_bytes": png(picture_with_hole(256).convert("RGB"))},
        "image",
        "RGBA",
    ),
    (
        "mask of another size",
        lambda: {
            "image_bytes": png(picture_with_hole(256)),
            "mask_bytes": png(picture_with_hole(128, hole=(0, 0, 9, 9))),
        },
        "mask",
        "same size",
    ),
    (
        "mask without alpha",
        lambda: {
            "image_bytes": png(picture_with_hole(256)),
            "mask_bytes": png(picture_with_hole(256).convert("RGB")),
        },
        "mask",
        "transparency",
    ),
]


@pytest.mark.parametrize(
    ("case", "make", "param", "words"), BAD_UPLOADS, ids=[c[0] for c in BAD_UPLOADS]
)
def test_bad_uploads_are_refused_by_their_bytes(case, make, param, words):
    with pytest.raises(InvalidRequest) as raised:
        upload_validate(needs_alpha=True, **make())
    assert raised.value.param == param
    assert words in raised.value.message
    assert raised.value.status_code == 400


def test_a_good_edit_upload_and_a_variation_without_alpha_pass():
    upload = upload_validate(
        image_bytes=png(picture_with_hole(256, hole=(0, 0, 9, 9))), needs_alpha=True
    )
    assert upload.image.size == (256, 256) and upload.image.mode == "RGBA"
    wide = picture_with_hole(512).convert("RGB").crop((0, 0, 512, 256))
    assert upload_validate(image_bytes=png(wide), needs_alpha=False).image.size == (512, 256)


def _nothing_changed(user, balance_before: int) -> None:  # type: ignore[no-untyped-def]
    assert Generation.objects.count() == 0
    assert Reservation.objects.count() == 0
    assert balance_summary(user=user).balance == balance_before
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not any(path.is_file() for path in media.rglob("*"))


BAD_REQUESTS = [
    ({"size": "2048x2048"}, "size"),
    ({"size": "256x1024"}, "size"),  # aspect over 3:1
    ({"size": "1000x1000"}, "size"),  # not multiples of 64
    ({"size": "2048x1024"}, "size"),  # over the plan's pixels
    ({"quality": "ultra"}, "quality"),
    ({"output_format": "gif"}, "output_format"),
    ({"output_format": "jpeg", "background": "transparent"}, "background"),
    ({"output_compression": 101}, "output_compression"),
    ({"moderation": "none"}, "moderation"),
    ({"n": 0}, "n"),
    ({"n": 11}, "n"),
    ({"prompt": "x" * 1001}, "prompt"),
    ({"prompt": ""}, "prompt"),
    ({"model": "no/such-model"}, "model"),
]


@pytest.mark.parametrize(("change", "param"), BAD_REQUESTS, ids=[p for _, p in BAD_REQUESTS])
def test_bad_requests_change_nothing(user, change, param):
    before = balance_summary(user=user).balance
    request = {"prompt": "a lighthouse", "n": 1, "size": "256x256", **change}
    with pytest.raises(InvalidRequest) as raised:
        job_admit(user=user, source="openai_api", operation="generate", **request)
    assert raised.value.param == param
    _nothing_changed(user, before)


def test_bad_upload_through_create_changes_nothing(user):
    before = balance_summary(user=user).balance
    with pytest.raises(InvalidRequest):
        job_admit(
            user=user,
            source="openai_api",
            operation="edit",
            prompt="a door",
            size=256,
            image_bytes=bomb_bytes(),
        )
    _nothing_changed(user, before)


def test_the_tier_limits_apply(user):
    with pytest.raises(InvalidRequest) as raised:  # free allows n <= 4 and no 1024
        job_admit(user=user, source="web", operation="generate", prompt="a cat", n=5, size=256)
    assert raised.value.param == "n"
    with pytest.raises(InvalidRequest) as raised:
        job_admit(user=user, source="web", operation="generate", prompt="a cat", size=1024)
    assert raised.value.param == "size"


def test_a_blocked_prompt_is_refused_and_costs_nothing(user):
    before = balance_summary(user=user).balance
    with pytest.raises(ContentPolicyViolation):
        job_admit(
            user=user,
            source="openai_api",
            operation="generate",
            prompt="explicit pornographic nude sex scene",
            size=256,
        )
    _nothing_changed(user, before)


def test_create_reserves_stores_uploads_and_queues_after_commit(
    user, django_capture_on_commit_callbacks
):
    before = balance_summary(user=user).balance
    with django_capture_on_commit_callbacks() as callbacks:
        generation = job_admit(
            user=user,
            source="openai_api",
            operation="edit",
            prompt="a door",
            n=2,
            size="256x256",
            image_bytes=png(picture_with_hole(256, hole=(10, 10, 50, 50))),
            seed=1234,
        )
    assert len(callbacks) == 1  # the enqueue waits for the commit
    assert generation.status == Generation.Status.QUEUED
    assert (generation.n, generation.size, generation.seed, generation.model) == (
        2,
        256,
        1234,
        "easel/tiny",
    )
    assert generation.queue_lane == user.tier.queue_lane
    assert (
        Reservation.objects.get(generation_id=generation.pk).amount
        == generation.credits_reserved
        == 2
    )
    assert balance_summary(user=user).balance == before - 2
    assert storage().exists(generation.input_image_key)


def test_cancel_of_a_queued_job_releases_its_credits_once(user, django_capture_on_commit_callbacks):
    before = balance_summary(user=user).balance
    with django_capture_on_commit_callbacks():
        generation = job_admit(
            user=user, source="web", operation="generate", prompt="a cat", size=256
        )
    assert generation_cancel(generation=generation).status == Generation.Status.CANCELED
    assert generation_cancel(generation=generation).status == Generation.Status.CANCELED
    assert balance_summary(user=user).balance == before
    assert (
        Reservation.objects.get(generation_id=generation.pk).status == Reservation.Status.RELEASED
    )


def test_cancel_of_a_running_job_asks_the_worker(user):
    generation = _generation(user, status=Generation.Status.RUNNING)
    assert generation_cancel(generation=generation).cancel_requested is True
    assert generation.status == Generation.Status.RUNNING


def _generation(user, **fields):  # type: ignore[no-untyped-def]
    return GenerationFactory(**{"user": user, "source": "web", "prompt": "p", "steps": 1, **fields})


def _delivered(user):  # type: ignore[no-untyped-def]
    generation = _generation(user, status=Generation.Status.SUCCEEDED)
    key = storage_write(key=image_key(generation_id=generation.pk, index=0), content=b"png")
    image = ImageFactory(generation=generation, storage_key=key)
    share = Share.objects.create(image=image, slug=f"s{str(image.pk)[:8]}")
    return image, share, key


def test_take_down_removes_file_and_share_at_once_and_restore_undoes_it(user):
    image, share, key = _delivered(user)
    image_take_down(image_id=image.pk, actor=user, reason="public figure")
    image.refresh_from_db()
    share.refresh_from_db()
    assert image.status == Image.Status.REMOVED and image.storage_key == ""
    assert not storage().exists(key)
    assert share.is_active is False and share.taken_down_at is not None

    image_restore(image_id=image.pk, actor=user, reason="overturned")
    image.refresh_from_db()
    assert image.status == Image.Status.DELIVERED and storage().exists(key)


def test_delete_removes_the_file_and_the_share(user, django_capture_on_commit_callbacks):
    image, share, key = _delivered(user)
    with django_capture_on_commit_callbacks(execute=True):
        image_delete(image=image)
    image.refresh_from_db()
    share.refresh_from_db()
    assert image.deleted_at is not None and not storage().exists(key)
    assert share.is_active is False


def test_low_lane_jobs_waiting_too_long_are_promoted_once(
    user, settings, django_capture_on_commit_callbacks
):
    old = _generation(user, queue_lane=0)
    Generation.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    fresh = _generation(user, queue_lane=0)
    sent = []
    from generation import tasks

    original = tasks.generation_run_task.apply_async
    tasks.generation_run_task.apply_async = lambda **kwargs: sent.append(kwargs)  # record sends
    try:
        assert lanes_promote() == 1
        assert lanes_promote() == 0
    finally:
        tasks.generation_run_task.apply_async = original
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.queue_lane, fresh.queue_lane) == (1, 0)
    assert sent == [{"args": [str(old.pk)], "queue": "gpu", "priority": 3}]


def test_queued_jobs_whose_message_was_not_claimed_are_sent_again_once_per_bound(
    user, settings, monkeypatch
):
    from generation import tasks
    from generation.services.outbox import generations_resend

    settings.EASEL_GENERATION_RESEND_AFTER = 120
    now = timezone.now()
    lost = _generation(user)
    fresh = _generation(user)
    running = _generation(user, status=Generation.Status.RUNNING)
    Generation.objects.filter(pk__in=[lost.pk, running.pk]).update(
        sent_at=now - timedelta(minutes=10)
    )
    sent: list[dict] = []
    monkeypatch.setattr(
        tasks.generation_run_task, "apply_async", lambda **kwargs: sent.append(kwargs)
    )
    assert generations_resend(now=now) == 1
    assert generations_resend(now=now) == 0  # its new send is the one the bound counts from
    assert [message["args"] for message in sent] == [[str(lost.pk)]]
    lost.refresh_from_db()
    assert lost.sent_at == now and lost.status == Generation.Status.QUEUED
    later = now + timedelta(seconds=121)
    assert generations_resend(now=later) == 2  # still unclaimed: both queued jobs again
    assert {message["args"][0] for message in sent[1:]} == {str(lost.pk), str(fresh.pk)}
    assert Generation.objects.get(pk=running.pk).sent_at < now  # a claimed job is never re-sent


def test_the_time_limits_lease_and_timeouts_must_agree(settings):
    from generation.checks import handoff_bounds_check

    assert handoff_bounds_check() == []
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 300}
    settings.EASEL_GENERATION_LEASE_SECONDS = 10
    settings.BILLING_RESERVATION_TIMEOUT = 600
    settings.EASEL_GENERATION_HARD_TIME_LIMIT = settings.EASEL_GENERATION_SOFT_TIME_LIMIT
    assert [error.id for error in handoff_bounds_check()] == [
        "easel.E001",
        "easel.E002",
        "easel.E003",
        "easel.E004",
    ]


def test_each_worker_publishes_its_own_rate_and_the_estimate_sums_them():
    """Several GPU workers: the queue estimate counts them all, not the last one to write."""
    from django.core.cache import cache

    from generation.services.throughput import (
        THROUGHPUT_CACHE_KEY,
        throughput_fleet,
        throughput_publish,
    )

    cache.delete(THROUGHPUT_CACHE_KEY)
    assert throughput_fleet() is None
    throughput_publish(worker_id="gpu-a:1", images=8, seconds=2.0)  # 4 images/s
    throughput_publish(worker_id="gpu-b:1", images=8, seconds=1.0)  # 8 images/s
    assert throughput_fleet() == pytest.approx(12.0)
    throughput_publish(worker_id="gpu-a:1", images=8, seconds=1.0)  # smoothed: 0.8*4 + 0.2*8
    assert throughput_fleet() == pytest.approx(4.8 + 8.0)
    cache.delete(THROUGHPUT_CACHE_KEY)


def test_a_cancel_reaches_the_running_worker_through_the_cache(user):
    from generation.services.cancels import cancel_flags
    from generation.services.generations import generation_cancel

    running = GenerationFactory(user=user, status=Generation.Status.RUNNING, worker_id="w:1")
    other = GenerationFactory(user=user, status=Generation.Status.RUNNING, worker_id="w:1")
    generation_cancel(generation=running)
    assert cancel_flags(generation_ids=[running.pk, other.pk]) == {str(running.pk)}


def test_the_step_callback_writes_a_heartbeat_at_most_once_a_second(
    user, django_assert_num_queries
):
    from generation.services.generations import generation_cancel
    from generation.services.worker import _Step

    claimed = timezone.now() - timedelta(seconds=5)
    jobs = [
        GenerationFactory(
            user=user, status=Generation.Status.RUNNING, worker_id="w:1", heartbeat_at=claimed
        )
        for _ in range(2)
    ]
    step = _Step(jobs=jobs, worker_id="w:1")
    with django_assert_num_queries(0):  # the claim has just written a heartbeat
        assert step(1, 4)
    generation_cancel(generation=jobs[0])
    with django_assert_num_queries(0):  # the cache only, within the second
        assert step(2, 4)  # one of two still wants it
    assert step.canceled == {str(jobs[0].pk)}
    Generation.objects.filter(pk=jobs[1].pk).update(cancel_requested=True)  # the cache lost it
    step.last_beat -= 1.0  # a second on, as in a long job
    with django_assert_num_queries(2):  # the heartbeat, and the cancels it records
        assert not step(3, 4)
    assert step.canceled == {str(job.pk) for job in jobs}
    for job in jobs:
        job.refresh_from_db()
        assert job.heartbeat_at > claimed
        assert (job.progress_step, job.progress_total) == (3, 4)
